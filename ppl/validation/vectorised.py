"""Many fits as one program: NUTS ``jax.vmap``-ed over data sets of the same shapes.

For small models a simulation study spends most of its time in Python and in launching small
programs; here every data set's fit (warm-up with Stan's window adaptation, then the draws)
is one lane of a single compiled program, run on one device (the GPU, where there is one).
The sampler is BlackJAX's NUTS with its window adaptation (diagonal mass matrix), not
ppl's ``nuts`` backend (whose chunked runner, chain recovery and Ctrl-C handling do not
vectorise over data): its draws differ from ``fit_many``'s, but a study's verdict does not
depend on which correct sampler made them. A data set whose draws are not all finite is
recorded as a failed fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ppl.errors import SamplingError, error
from ppl.jax_settings import in_ppl_settings
from ppl.validation.many import FitOutcome

# The options a vectorised fit takes (besides the seeds).
OPTIONS = ("chains", "draws", "warmup", "target_accept")


@in_ppl_settings
def fit_vectorised(model: Any, datasets: Sequence[Any], seeds: Sequence[int], *,
                   chains: int = 1, draws: int = 1000, warmup: int = 1000,
                   target_accept: float = 0.8) -> list[FitOutcome]:
    """Fit ``model`` to every data set at once; each outcome's ``fit`` is the parameters'
    constrained draws (chain, draw, scalar), scalars in the order of ``latent_names`` and,
    within a parameter, C order (as :class:`ppl.validation.study.ParameterDraws`)."""
    import blackjax

    bindings = [model.compile(d) for d in datasets]
    base = bindings[0]
    different = [i for i, b in enumerate(bindings) if b.signature != base.signature]
    if different:
        raise SamplingError([error(
            f"data set {different[0]} has other sizes or observed quantities than data set 0",
            hint="the vectorised path fits data sets of the same shapes; use fit_many")])
    stacked = {name: jnp.stack([b.traced_data[name] for b in bindings])
               for name in base.traced_data}
    names = base.latent_names

    def flat(u, data):  # bounds may depend on the data: constrained with this data set's
        values = base.with_data(data).constrain(u)
        return jnp.concatenate([jnp.reshape(values[n], (-1,)) for n in names])

    def one(data, key):
        def log_density(u):
            return base.log_density_with(u, data)

        def chain(key):
            start_key, warm_key, draw_key = jax.random.split(key, 3)
            adaptation = blackjax.window_adaptation(blackjax.nuts, log_density,
                                                    target_acceptance_rate=target_accept)
            (state, parameters), _ = adaptation.run(warm_key, base.initial_point(start_key),
                                                    num_steps=warmup)
            kernel = blackjax.nuts(log_density, **parameters)

            def step(state, step_key):
                state, _ = kernel.step(step_key, state)
                return state, state.position

            _, positions = jax.lax.scan(step, state, jax.random.split(draw_key, draws))
            return positions

        positions = jax.vmap(chain)(jax.random.split(key, chains))
        return jax.vmap(jax.vmap(lambda u: flat(u, data)))(positions)

    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    results = np.asarray(jax.jit(jax.vmap(one))(stacked, keys))
    return [FitOutcome(i, int(s), r) if np.isfinite(r).all() else
            FitOutcome(i, int(s), error="the draws are not all finite (the sampler diverged)")
            for i, (s, r) in enumerate(zip(seeds, results))]
