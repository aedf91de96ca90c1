"""The ``ppl`` command line: run, predict, validate, check, ir, graph, backends, cache.

Exit codes: 0 success, 1 an error in the model or data (a clean message on stderr), 2 usage;
``ppl validate`` also exits with 1 when the validation fails.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from rich.console import Console

from ppl.errors import PPLError, render

# The exit code of a run stopped by Ctrl-C (128 + SIGINT), with or without a partial fit.
INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ppl", description="Bayesian models, compiled to JAX.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="fit a model to data and print a summary")
    run.add_argument("model", help="the .ppl model file")
    run.add_argument("--data", action="append", metavar="FILE",
                     help="data file: a .json object, or a .csv or .parquet table with one "
                          "column per name (repeatable: the files are merged)")
    run.add_argument("--backend", default="nuts", help="inference backend (see `ppl backends`)")
    run.add_argument("--chains", type=int, default=4)
    run.add_argument("--draws", type=int, default=1000)
    run.add_argument("--warmup", type=int, default=1000)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--output", help="write every group of the fit to this file (.nc netCDF "
                                      "or .json; read it back with ppl.load_fit)")
    run.add_argument("--predictive", action="store_true",
                     help="also draw from the posterior predictive distribution")
    run.add_argument("--prior", action="store_true",
                     help="simulate instead of fitting: --draws draws from the prior and the "
                          "prior predictive (data with a distribution may be left out)")
    run.add_argument("--var-names", metavar="NAMES",
                     help="quantities to record besides the default (parameters and quantities "
                          "of at most 10 values), comma-separated; ~name leaves one out, e.g. "
                          "--var-names mu,~theta")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("--guide", metavar="FILE",
                     help="the variational guide (a .ppl file) for --backend vi")
    run.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                     help="a backend option, e.g. -o target_accept=0.95 -o laplace=true "
                          "(repeatable)")

    predict = sub.add_parser("predict", help="predictions for new data from a saved fit, "
                                             "without refitting")
    predict.add_argument("model", help="the .ppl model file the fit was made with")
    predict.add_argument("--fit", required=True,
                         help="the fit (.nc or .json, written by `ppl run --output`)")
    predict.add_argument("--data", action="append", metavar="FILE",
                         help="the new data (.json, .csv or .parquet; repeatable); what it "
                              "leaves out is taken from the fit, observed quantities are drawn")
    predict.add_argument("--seed", type=int, default=0)
    predict.add_argument("--output", help="write the predictions to this file (.nc or .json)")

    validate = sub.add_parser("validate", help="check that a backend recovers what the model "
                                               "simulates (SBC and TARP); exit 1 on failure")
    validate.add_argument("model", help="the .ppl model file")
    validate.add_argument("--data", action="append", metavar="FILE",
                          help="sizes and covariates (.json, .csv or .parquet; repeatable); "
                               "observed data in it are replaced by simulations")
    validate.add_argument("--simulations", type=int, default=100)
    validate.add_argument("--backend", default="nuts", help="inference backend")
    validate.add_argument("--method", default="sbc,tarp", help="sbc, tarp or sbc,tarp")
    validate.add_argument("--chains", type=int, default=1)
    validate.add_argument("--draws", type=int, default=1000)
    validate.add_argument("--warmup", type=int, default=1000)
    validate.add_argument("--seed", type=int, default=0)
    validate.add_argument("--alpha", type=float, default=0.05,
                          help="level of the overall test (default 0.05)")
    validate.add_argument("--cluster", default="local",
                          help="'local' (a Dask LocalCluster, one process per core), 'none' "
                               "(this process) or a scheduler address such as "
                               "tcp://host:8786")
    validate.add_argument("--workers", type=int, help="worker processes of a local cluster")
    validate.add_argument("--vectorised", action="store_true",
                          help="fit all simulations at once, jax.vmap over data sets, on this "
                               "process's device (NUTS; the GPU path)")
    validate.add_argument("--report", metavar="DIR", help="write the plots here")
    validate.add_argument("--report-format", choices=("png", "svg"), default="png",
                          help="the plots' file format (default png)")
    validate.add_argument("--json", action="store_true",
                          help="print one JSON object (verdict and per-parameter results)")
    validate.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    validate.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                          help="a backend option, as for `ppl run` (repeatable)")

    check = sub.add_parser("check", help="check a model (and its data) for errors")
    check.add_argument("model")
    check.add_argument("--data", action="append", metavar="FILE",
                       help="also check the data against the declarations (repeatable)")
    check.add_argument("--guide", metavar="FILE",
                       help="also check a variational guide (for --backend vi) against the "
                            "model bound to the data")

    ir = sub.add_parser("ir", help="print the model's graph IR")
    ir.add_argument("model")
    ir.add_argument("--data", action="append", metavar="FILE",
                    help="use the data's sizes and observed variables (repeatable)")

    graph = sub.add_parser("graph", help="draw the model graph (.svg, .png, .pdf or .dot)")
    graph.add_argument("model")
    graph.add_argument("--data", action="append", metavar="FILE",
                       help="use the data's sizes and observed variables (repeatable)")
    graph.add_argument("--output", "-o", metavar="FILE",
                       help="write the graph here; the suffix picks the format: .svg, .png and "
                            ".pdf need Graphviz's `dot` program, .dot does not (default: DOT "
                            "source on standard output)")

    sub.add_parser("backends", help="list the installed inference backends")

    cache = sub.add_parser("cache", help="show or empty the compilation cache (PPL_CACHE_DIR)")
    cache.add_argument("action", choices=("info", "clear"),
                       help="info: its folder, entries and size; clear: delete its entries")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ppl`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    # soft_wrap: messages keep their lines (a caret must stay under its source line) instead of
    # being re-wrapped at the terminal width, which is 80 columns when output is piped.
    out = Console(soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    from ppl.jax_settings import ppl_settings

    try:
        # The command owns its process, but runs like any other ppl call (ppl.jax_settings).
        with warnings.catch_warnings(record=True) as caught, ppl_settings():
            warnings.simplefilter("always")
            code = _COMMANDS[args.command](args, out, err)
        _print_warnings(caught, err)
        return code
    except PPLError as exc:
        err.print(exc.render(), markup=False)
        return 1
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        return INTERRUPTED


def _print_warnings(caught, err: Console) -> None:
    """Warnings raised while a command ran. A fit's sampling warnings are left out: the
    summary prints them under its table. The checker's warnings are already rendered with
    their place and severity; others get a ``warning:`` prefix. Never read as markup."""
    from ppl.errors import ModelWarning, SamplingWarning

    for w in caught:
        if issubclass(w.category, SamplingWarning):
            continue
        if issubclass(w.category, ModelWarning) or _rendered(str(w.message)):
            err.print(str(w.message), markup=False)
        elif "ppl" in str(w.filename) or issubclass(w.category, UserWarning):
            err.print("[yellow]warning:[/] ", end="")
            err.print(str(w.message), markup=False)


def _rendered(message: str) -> bool:
    """Whether ``message`` is a diagnostic rendered with its place and severity (``file:3:1:
    warning: ...``), which must not get a second ``warning:`` prefix."""
    head = message.split("\n", 1)[0]
    return ": warning: " in head and not head.startswith("warning")


def _load(path: str):
    import ppl

    return ppl.load(path)


def _read(paths: list[str] | None):
    from ppl.datafiles import read_data_files

    return read_data_files(paths) if paths else {}


def _cmd_check(args, out: Console, err: Console) -> int:
    model = _load(args.model)
    for diagnostic in model.warnings:
        err.print(render(diagnostic, model.source), markup=False)
    if args.data:
        _, _, notes = model.bind(_read(args.data))
        for diagnostic in notes:  # data entries the model does not use
            err.print(render(diagnostic, model.source), markup=False)
    if args.guide:
        from ppl.codegen.guide import compile_guide

        compile_guide(model.compile(_read(args.data) if args.data else None), Path(args.guide))
        out.print(f"{args.guide}: OK", markup=False)
    out.print(f"{args.model}: OK", markup=False)
    return 0


def _cmd_ir(args, out: Console, err: Console) -> int:
    model = _load(args.model)
    out.print(model.ir(_read(args.data) if args.data else None), markup=False, end="")
    return 0


def _cmd_graph(args, out: Console, err: Console) -> int:
    from ppl.ir import render

    if args.output:
        suffix = Path(args.output).suffix.lower().lstrip(".")
        if suffix not in render.FORMATS:
            err.print(f"ppl graph: cannot write '{args.output}': name the output file with one "
                      f"of the suffixes {', '.join('.' + s for s in render.FORMATS)}",
                      markup=False)
            return 2
    model = _load(args.model)
    graph = model.graph_ir(_read(args.data) if args.data else None)
    if not args.output:
        out.file.write(render.to_dot(graph))  # verbatim: no markup, emoji or tab expansion
        return 0
    render.write(graph, args.output)
    out.print(f"graph written to {args.output}", markup=False)
    return 0


def _cmd_backends(args, out: Console, err: Console) -> int:
    from ppl.backends.registry import available_backends

    for name, backend in sorted(available_backends().items()):
        out.print(f"{name:<12} {backend.description}", markup=False)
    return 0


def _cmd_run(args, out: Console, err: Console) -> int:
    from ppl.summary import print_summary, save

    problem = _run_usage_problem(args)  # before anything is loaded, compiled or sampled
    if problem:
        err.print(f"ppl run: {problem}", markup=False)
        return 2
    from ppl.backends.options import parse_option_items
    from ppl.recording import parse_var_names

    options = parse_option_items(args.option)
    if args.guide:
        options["guide"] = Path(args.guide)
    model = _load(args.model)
    data = _read(args.data)
    if args.prior:
        return _run_prior(model, data, args, out)
    fit = model.sample(data, backend=args.backend, chains=args.chains, draws=args.draws,
                       warmup=args.warmup, seed=args.seed, progress=not args.no_progress,
                       posterior_predictive=args.predictive,
                       var_names=parse_var_names(args.var_names), **options)
    print_summary(fit, out, err)
    partial = bool(fit.attrs.get("partial"))
    if args.output:
        save(fit, Path(args.output))
        if partial:
            kept = fit["posterior"].sizes["draw"]
            out.print(f"partial fit ({kept} of {args.draws} draws per chain) written to "
                      f"{args.output}", markup=False)
        else:
            out.print(f"draws written to {args.output}", markup=False)
    # Ctrl-C stopped the sampling: the draws so far are kept, and the exit code says so.
    return INTERRUPTED if partial else 0


def _cmd_predict(args, out: Console, err: Console) -> int:
    from ppl.model import MAX_SEED
    from ppl.output import check_output_path, load_fit
    from ppl.summary import print_prior_summary, save

    if not 0 <= args.seed <= MAX_SEED:
        err.print(f"ppl predict: --seed must be an integer from 0 to {MAX_SEED}, not "
                  f"{args.seed}", markup=False)
        return 2
    if args.output:  # a usage error, before anything is computed (as for `ppl run`)
        try:
            check_output_path(args.output)
        except PPLError as exc:
            (diagnostic,) = exc.diagnostics
            err.print(f"ppl predict: cannot write '{args.output}': {diagnostic.message}\n"
                      f"  hint: {diagnostic.hint}", markup=False)
            return 2
    model = _load(args.model)
    predictions = model.predict(load_fit(args.fit), _read(args.data), seed=args.seed)
    print_prior_summary(predictions, out, {"predictions": "predictions"})
    if args.output:
        save(predictions, Path(args.output))
        out.print(f"predictions written to {args.output}", markup=False)
    return 0


def _run_usage_problem(args) -> str | None:
    """What is wrong with the flags of ``ppl run`` (a usage error, exit code 2), if anything:
    counts, the seed, the backend's name, and the output file (suffix and folder)."""
    from ppl.backends.options import parse_option_items, validate_options
    from ppl.backends.registry import available_backends
    from ppl.errors import DataError
    from ppl.model import MAX_SEED
    from ppl.summary import check_output_path

    for name, value in (("chains", args.chains), ("draws", args.draws), ("warmup", args.warmup)):
        if value < (0 if name == "warmup" else 1):
            return f"--{name} must be at least {0 if name == 'warmup' else 1}"
    if not 0 <= args.seed <= MAX_SEED:
        return f"--seed must be an integer from 0 to {MAX_SEED}, not {args.seed}"
    backends = available_backends()
    if args.backend not in backends:
        return (f"unknown backend '{args.backend}'; the installed backends are "
                f"{', '.join(sorted(backends))}")
    for item in args.option:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            return f"--option needs KEY=VALUE, not '{item}'"
    if args.guide and args.backend != "vi":
        return (f"--guide is for --backend vi, not --backend {args.backend} (a guide is the "
                "variational family of the vi backend)")
    spec = getattr(backends[args.backend], "options", None)  # a plug-in may not list them
    if spec is not None and not args.prior:
        try:
            validate_options(args.backend, parse_option_items(args.option), spec)
        except PPLError as exc:
            return "\nppl run: ".join(d.message + (f"\n  hint: {d.hint}" if d.hint else "")
                                      for d in exc.diagnostics)
    if args.output:
        try:
            check_output_path(args.output)
        except DataError as exc:
            (diagnostic,) = exc.diagnostics
            return (f"cannot write '{args.output}': {diagnostic.message}\n"
                    f"  hint: {diagnostic.hint}")
    return None


def _run_prior(model, data, args, out: Console) -> int:
    """``ppl run --prior``: draws from the prior and the prior predictive, summarised (and
    saved with ``--output``); nothing is fitted, so observed data may be left out."""
    from ppl.recording import parse_var_names
    from ppl.summary import print_prior_summary, save

    prior = model.sample_prior_predictive(data, draws=args.draws, seed=args.seed,
                                          var_names=parse_var_names(args.var_names))
    print_prior_summary(prior, out)
    if args.output:
        save(prior, Path(args.output))
        out.print(f"draws written to {args.output}", markup=False)
    return 0


def _cmd_validate(args, out: Console, err: Console) -> int:
    """``ppl validate``: a calibration study; exit 0 on pass, 1 on fail."""
    import json

    from ppl.backends.options import parse_option_items

    problem = _validate_usage_problem(args)
    if problem:
        err.print(f"ppl validate: {problem}", markup=False)
        return 2
    model = _load(args.model)
    result = model.validate(
        _read(args.data) or None, args.simulations, args.backend, method=args.method,
        cluster=None if args.cluster == "none" else args.cluster, workers=args.workers,
        seed=args.seed, alpha=args.alpha,
        progress=not (args.no_progress or args.json), vectorised=args.vectorised,
        chains=args.chains, draws=args.draws,
        warmup=args.warmup, **parse_option_items(args.option))
    if args.report:
        result.plot(args.report, args.report_format)
    if args.json:
        out.file.write(json.dumps(result.to_json()) + "\n")
    else:
        out.print(str(result), markup=False)
        if args.report:
            out.print(f"plots written to {args.report}", markup=False)
    return 0 if result.passed else 1


def _validate_usage_problem(args) -> str | None:
    """What is wrong with the flags of ``ppl validate`` (exit code 2), if anything."""
    from ppl.backends.registry import available_backends
    from ppl.model import MAX_SEED

    for name, value, least in (("simulations", args.simulations, 2), ("chains", args.chains, 1),
                               ("draws", args.draws, 1), ("warmup", args.warmup, 0)):
        if value < least:
            return f"--{name} must be at least {least}"
    if args.workers is not None and args.workers < 1:
        return "--workers must be at least 1"
    if not 0 <= args.seed <= MAX_SEED:
        return f"--seed must be an integer from 0 to {MAX_SEED}, not {args.seed}"
    if not 0 < args.alpha < 1:
        return f"--alpha must be between 0 and 1, not {args.alpha}"
    if args.backend not in available_backends():
        return (f"unknown backend '{args.backend}'; the installed backends are "
                f"{', '.join(sorted(available_backends()))}")
    if args.cluster not in ("local", "none") and "://" not in args.cluster:
        return (f"--cluster must be 'local', 'none' or a scheduler address such as "
                f"tcp://host:8786, not '{args.cluster}'")
    return None


def _cmd_cache(args, out: Console, err: Console) -> int:
    """``ppl cache info`` and ``ppl cache clear``: the compiled programs ppl keeps on disk."""
    from ppl.jax_settings import CACHE_MAX_BYTES, cache_folder, cache_info, clear_cache

    folder = cache_folder()
    if folder is None:
        out.print("the compilation cache is off (PPL_CACHE_DIR is set to an empty value)",
                  markup=False)
        return 0
    if args.action == "clear":
        removed = clear_cache(folder)
        out.print(f"removed {removed} compiled program{'s' * (removed != 1)} from {folder}",
                  markup=False)
        return 0
    info = cache_info(folder)
    out.print(f"folder:  {info.folder}{'' if folder.is_dir() else ' (not created yet)'}\n"
              f"entries: {info.entries} compiled, {info.programs} kept by ppl\n"
              f"size:    {_binary_size(info.size_bytes)} (at most {_binary_size(CACHE_MAX_BYTES)}: "
              f"the least recently used entries go first)", markup=False)
    return 0


def _binary_size(size: int) -> str:
    """Bytes in binary units, as the cache's bound is set: ``12.3 MiB``, ``1.0 GiB``."""
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.1f} MiB"


_COMMANDS = {"run": _cmd_run, "predict": _cmd_predict, "validate": _cmd_validate,
             "check": _cmd_check, "ir": _cmd_ir,
             "graph": _cmd_graph, "backends": _cmd_backends, "cache": _cmd_cache}

if __name__ == "__main__":
    sys.exit(main())
