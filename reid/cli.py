"""The ``reid`` command: train a method, evaluate a saved model, show which data sets are where, run the demo.

``reid train METHOD``   build the config of METHOD under a profile (``smoke`` by default: synthetic data,
                        small sizes; ``paper``: the paper's recipe), apply the options and ``key=value``
                        overrides, train, evaluate, write the run record (:func:`reid.engine.run.run`).
``reid eval CHECKPOINT`` evaluate the weights of a run (``last.pt``, ``best.pt`` or a run folder) with the
                        run's own data and protocol or changed ones, write an evaluation record
                        (:mod:`reid.engine.evaluate_checkpoint`).
``reid datasets``       for every registered data set: where it is looked for, and what is found there.
``reid demo``           the evaluation protocols on the synthetic data with a hand-made descriptor.

Data folders: ``--data-root PATH`` is the data set's own folder (the ``root/`` of the layout drawn in its
class docstring). Without it a real data set is looked for in ``$REID_DATA_ROOT/<name>`` (:data:`DATA_ROOT_ENV`).
Every error the package raises on purpose ends the command with ``reid: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import reid
from reid.backbones.pretrained import PRETRAINED_DIR_ENV, pretrained_env_var
from reid.config import RunConfig, fingerprint
from reid.data.datasets import DATASETS, SYNTHETIC, build_dataset
from reid.engine.evaluate_checkpoint import (
    default_record_path,
    evaluate_checkpoint,
    load_trained,
    write_evaluation_record,
)
from reid.engine.record import RECORD
from reid.engine.run import check_weights, completed_record, run, with_pretrained
from reid.engine.run_config import (
    DATA_ROOT_ENV,
    build_run_config,
    dataset_class_path,
    evaluation_run_config,
    pretrained_files,
    probe_data_folders,
    require_data_root,
    resolve_device,
    set_threads,
)
from reid.errors import ConfigError, ReidError
from reid.eval.evaluate import METRICS
from reid.harness.cases import REGDB_SPLITS, check_regdb_splits, regdb_splits_note
from reid.harness.plan import DEFAULT_TFLOPS
from reid.harness.smoke_golden import SMOKE_THREADS
from reid.methods import list_methods
from reid.profiles import PROFILES, build_config

FLAG_KEYS: Mapping[str, str] = {
    "data.dataset": "--dataset NAME",
    "data.root": "--data-root PATH",
}
"""Config keys set only by their option: choosing a data set also resets its options and protocol."""

INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""

_EPILOG_TRAIN = """\
examples:
  reid train agw                                  smoke profile: synthetic data, ResNet-18, 64x32, 8 epochs
  reid train caj optim.epochs=2 --seed 1 --quiet  key=value overrides any config field
  reid train agw --profile paper --dataset sysu_mm01 --data-root ~/data/SYSU-MM01 \\
                 --pretrained ~/weights/resnet50-19c8e357.pth --device cuda
  reid train agw --dataset regdb --data-root ~/data/RegDB data.options.trial=3

A run lives in OUT/<config fingerprint>/ (last.pt after every epoch, record.json at the end). The same
command continues an interrupted run from its last completed epoch and returns a completed one without
training again (--no-resume starts afresh). ImageNet weights are read from a local file only: --pretrained,
else $REID_PRETRAINED_<ARCH> (REID_PRETRAINED_RESNET50) or $REID_PRETRAINED_DIR. The file must be torchvision's
file of the architecture (resnet50-19c8e357.pth: its SHA-256 is checked; $REID_PRETRAINED_ANY_HASH=1 accepts
another). Without one the smoke profile starts from scratch and the record says so; a paper-profile run is
refused unless --from-scratch.
"""

_EPILOG_EVAL = """\
examples:
  reid eval runs/0123456789abcdef                 the run's selected model (best.pt, else last.pt)
  reid eval runs/0123456789abcdef/last.pt --flip --feature pool
  reid eval runs/0123456789abcdef/last.pt eval.protocol_options.mode=indoor
  reid eval runs/0123456789abcdef/last.pt --dataset regdb --data-root ~/data/RegDB --out regdb.json

Only the data (data.*) and the protocol (eval.*) can change; the network is the checkpoint's. With
nothing changed the metrics are the run's final ones. The record goes beside the checkpoint as
<checkpoint>.eval-<fingerprint>.json unless --out names a file (or a folder to put it in).
"""

_EPILOG_DATASETS = f"""\
examples:
  reid datasets
  reid datasets --data-root ~/data --data-root /mnt/shared/reid
  reid datasets --dataset sysu_mm01 --data-root ~/data

A data set NAME is looked for in PARENT/NAME for every --data-root PARENT, then in ${DATA_ROOT_ENV}/NAME;
with --dataset NAME each --data-root is also tried as the data set's own folder (as `reid train` reads it).
Use the folder reported as found as `reid train ... --data-root FOLDER`.
"""


# ---------------------------------------------------------------------------------------------- config


def check_override_keys(overrides: Sequence[str], given: Mapping[str, bool]) -> None:
    """Refuse overrides of :data:`FLAG_KEYS`, and an override of a key its option also sets.

    Args:
        overrides: the ``key=value`` items.
        given: config key -> whether its command-line option was given (``seed``, ``model.pretrained``).

    Raises:
        ConfigError: naming the override and the option to use.
    """
    for item in overrides:
        key = item.partition("=")[0].strip()
        if key in FLAG_KEYS:
            raise ConfigError(
                f"override {item!r}: use {FLAG_KEYS[key]} (it also resets the data set's options and protocol)"
            )
        if given.get(key):
            raise ConfigError(f"override {item!r}: {key} is already set by its command-line option")


def train_config(args: argparse.Namespace, environ: Mapping[str, str]) -> RunConfig:
    """The run config of ``reid train`` (:func:`~reid.engine.run_config.build_run_config`), with its data folder.

    Raises:
        ConfigError: unknown method or profile, a bad option or override, a missing weights file or data folder.
    """
    check_override_keys(
        args.overrides, {"seed": args.seed is not None, "model.pretrained": args.pretrained is not None}
    )
    config = build_run_config(args.method, args.profile, dataset=args.dataset, data_root=args.data_root,
                              seed=args.seed, pretrained=args.pretrained, overrides=args.overrides, environ=environ)
    require_data_root(config)
    return config


# ---------------------------------------------------------------------------------------------- output


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def metric_table(evaluation: Mapping[str, Any]) -> list[str]:
    """Lines of a table: one row per feature (the primary first) with the mean of every metric."""
    primary = evaluation["primary_feature"]
    names = [primary, *sorted(n for n in evaluation["features"] if n != primary)]
    width = max(len(n) for n in names) + len(" (primary)")
    lines = ["feature".ljust(width) + "".join(f"{m:>8}" for m in METRICS)]
    for name in names:
        mean = evaluation["features"][name]["mean"]
        label = f"{name} (primary)" if name == primary else name
        lines.append(label.ljust(width) + "".join(f"{_number(mean[m]):>8}" for m in METRICS))
    return lines


def protocol_line(evaluation: Mapping[str, Any]) -> str:
    """The protocol with every option, flip and the primary feature."""
    options = " ".join(f"{k}={v}" for k, v in sorted(evaluation["protocol_options"].items()))
    trials = len(evaluation["splits"])
    flip = "on" if evaluation["flip"] else "off"
    return (
        f"protocol: {evaluation['protocol']} {options}; {trials} trial(s); flip {flip}; "
        f"primary feature {evaluation['primary_feature']}"
    )


def metrics_brief(evaluation: Mapping[str, Any]) -> str:
    """``bn rank1 .. mAP .. mINP .. | pool ...`` (the primary feature first)."""
    primary = evaluation["primary_feature"]
    names = [primary, *sorted(n for n in evaluation["features"] if n != primary)]
    parts = []
    for name in names:
        mean = evaluation["features"][name]["mean"]
        parts.append(f"{name} rank1 {_number(mean['rank1'])} mAP {_number(mean['mAP'])} mINP {_number(mean['mINP'])}")
    return " | ".join(parts)


def weights_line(weights: Mapping[str, Any], arch: str) -> str:
    """Where the initial weights came from, loudly when from scratch."""
    if weights["from_scratch"]:
        return (
            f"initial weights: FROM SCRATCH (no ImageNet file: --pretrained PATH, ${pretrained_env_var(arch)} "
            f"or ${PRETRAINED_DIR_ENV})"
        )
    digest = weights["sha256"][:12] if weights["sha256"] else "unknown"
    return f"initial weights: ImageNet, {weights['pretrained']} (sha256 {digest}...)"


def selection_text(selection: Mapping[str, Any]) -> str:
    """The selection rule and epoch; a test-set selection is said so."""
    text = f"{selection['rule']} (epoch {selection['epoch']}"
    if selection["selection_uses_test_set"]:
        return text + f"; CHOSEN ON THE TEST SET: {selection['criterion']})"
    return text + "; not chosen on the test set)"


# ---------------------------------------------------------------------------------------------- commands


@contextlib.contextmanager
def _package_warnings(quiet: bool) -> Iterator[None]:
    """The package's log warnings on stderr as ``reid: ...`` (errors only when quiet)."""
    logger = logging.getLogger("reid")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("reid: %(message)s"))
    handler.setLevel(logging.ERROR if quiet else logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _train(args: argparse.Namespace) -> int:
    config = train_config(args, os.environ)
    device = resolve_device(args.device, profile=config.profile)
    folder = Path(args.out) / fingerprint(with_pretrained(config))
    cached = not args.no_resume and completed_record(with_pretrained(config), Path(args.out)) is not None
    progress = not args.quiet and (args.progress if args.progress is not None else sys.stderr.isatty())
    say = (lambda text: None) if args.quiet else print
    say(
        f"run {folder.name}: {config.method}, profile {config.profile}, dataset {config.data.dataset}, "
        f"device {device}, seed {config.seed}"
    )
    try:
        with _package_warnings(args.quiet):
            record = run(
                config,
                out_dir=args.out,
                device=device,
                resume=not args.no_resume,
                progress=progress,
                deterministic=args.deterministic,
                from_scratch=args.from_scratch,
            )
    except KeyboardInterrupt:
        print(f"reid: interrupted; the same command resumes {folder} from its last completed epoch", file=sys.stderr)
        return INTERRUPTED
    final = record.final_evaluation
    say(f"  folder: {folder} ({RECORD}, last.pt{', best.pt' if (folder / 'best.pt').is_file() else ''})")
    say(f"  {weights_line(record.weights, config.model.arch)}")
    if cached:
        say("  a completed run of this config was found: not trained again (--no-resume retrains)")
    last = record.epochs[-1]["train"]
    say(f"  trained: {len(record.epochs)} epoch(s) in {record.wall_time_s:.1f} s; last epoch loss {last['loss']:.4f}")
    say(f"  model selection: {selection_text(record.selection)}")
    say(f"  {protocol_line(final)}")
    for line in metric_table(final):
        say(f"    {line}")
    start = "FROM SCRATCH" if record.weights["from_scratch"] else "ImageNet init"
    print(
        f"{config.method} {record.fingerprint}: {metrics_brief(final)} "
        f"[{start}; selection {record.selection['rule']} @ epoch {record.selection['epoch']}"
        f"{', test-set selection' if record.selection['selection_uses_test_set'] else ''}] -> {folder / RECORD}"
    )
    return 0


def _eval(args: argparse.Namespace) -> int:
    check_override_keys(args.overrides, {"eval.flip": args.flip is not None, "eval.feature": args.feature is not None})
    device = resolve_device(args.device)
    checkpoint = load_trained(args.checkpoint)
    config = evaluation_run_config(checkpoint.config, dataset=args.dataset, data_root=args.data_root, flip=args.flip,
                                   feature=args.feature, overrides=args.overrides, environ=os.environ)
    with _package_warnings(args.quiet):
        record = evaluate_checkpoint(checkpoint, config, device=device)
    out = Path(args.out) if args.out is not None else default_record_path(checkpoint.path, config)
    if out.is_dir():
        out = out / default_record_path(checkpoint.path, config).name
    write_evaluation_record(out, record)
    if not args.quiet:
        selected = "; CHOSEN ON THE TEST SET" if checkpoint.selected_on_test_set else ""
        print(
            f"checkpoint {checkpoint.path}: {config.method}, epoch {checkpoint.epoch} of run "
            f"{checkpoint.fingerprint} ({checkpoint.kind}{selected}), device {device}"
        )
        changes = "; ".join(f"{k} {v['training']!r} -> {v['evaluation']!r}" for k, v in record.changes.items())
        changes = changes or "nothing (the run's own data and protocol)"
        print(f"  changed from training: {changes}")
        print(f"  dataset: {config.data.dataset}{f' at {config.data.root}' if config.data.root else ''}")
        print(f"  {protocol_line(record.evaluation)}")
        for line in metric_table(record.evaluation):
            print(f"    {line}")
    print(f"eval {checkpoint.path.name} of {checkpoint.fingerprint}: {metrics_brief(record.evaluation)} -> {out}")
    return 0


def dataset_layout(name: str) -> list[str]:
    """The layout drawn in the data set class docstring: the literal block after the ``Layout ...::`` paragraph."""
    lines = (inspect.getdoc(DATASETS[name]) or "").splitlines()
    paragraph = 0
    for i, line in enumerate(lines):
        if not line.strip():
            paragraph = i + 1
        elif line.rstrip().endswith("::") and lines[paragraph].lstrip().startswith("Layout"):
            return _literal_block(lines[i + 1 :], len(lines[paragraph]) - len(lines[paragraph].lstrip()))
    return []


def _literal_block(lines: list[str], indent: int) -> list[str]:
    """The lines indented deeper than ``indent`` at the start of ``lines``, dedented, blank ends dropped."""
    block: list[str] = []
    for line in lines:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        block.append(line)
    while block and not block[-1].strip():
        block.pop()
    while block and not block[0].strip():
        block.pop(0)
    common = min((len(line) - len(line.lstrip()) for line in block if line.strip()), default=0)
    return [line[common:] for line in block]


def counts_text(name: str, counts: Mapping[str, int]) -> str:
    """``N train ids (V visible + I infrared images), M test ids (...)``."""
    unit = "tracklets" if name in ("hitsz_vcm", "synthetic_video") else "images"
    return ", ".join(
        f"{counts[f'{split}_ids']} {split} ids ({counts[f'{split}_visible']} visible + "
        f"{counts[f'{split}_infrared']} infrared {unit})"
        for split in ("train", "test")
    )


def _datasets(args: argparse.Namespace) -> int:
    names = list(DATASETS) if args.dataset is None else [args.dataset]
    if args.dataset is not None and args.dataset not in DATASETS:
        raise ConfigError(f"--dataset {args.dataset!r} is not known; expected one of {', '.join(DATASETS)}")
    width = max(len(n) for n in names) + 2
    for name in names:
        if name in SYNTHETIC:
            counts = build_dataset(name).summary()
            print(f"{name.ljust(width)}generated, always available; default options: {counts_text(name, counts)}")
            continue
        probes = probe_data_folders(name, args.data_root, as_own_folder=args.dataset is not None, environ=os.environ)
        found, lines = None, []
        for probe in probes:
            if probe.counts is None:
                lines.append(f"  {probe.folder} ({probe.origin}): not usable: {probe.error}")
                continue
            lines.append(f"  {probe.folder} ({probe.origin}): found: {counts_text(name, probe.counts)}")
            found = found or probe.folder
        if not os.environ.get(DATA_ROOT_ENV):
            lines.append(f"  ${DATA_ROOT_ENV} is not set")
        if found is not None:
            print(f"{name.ljust(width)}FOUND: use --dataset {name} --data-root {os.path.abspath(found)}")
            print("\n".join(lines))
            continue
        print(f"{name.ljust(width)}not found")
        print("\n".join(lines))
        print(f"  expected layout (docstring of {dataset_class_path(name)}):")
        print("\n".join(f"    {line}" for line in dataset_layout(name)))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from reid.data.datasets.synthetic import SyntheticVIReID
    from reid.demo import format_rows, run_demo

    dataset = SyntheticVIReID(seed=args.seed, modality_gap=args.modality_gap)
    counts = dataset.summary()
    print(
        f"synthetic data (seed {args.seed}, modality gap {args.modality_gap}): "
        f"{counts['test_ids']} test ids, {counts['test_visible']} visible + {counts['test_infrared']} infrared "
        "test images"
    )
    print(
        "descriptor: standardised 32x16 luminance (no training); galleries: 'official' = the data set's own "
        "seeded permutations in rand_perm_cam layout, 'seeded' = AGW/CAJ per-trial random choice"
    )
    print(format_rows(run_demo(dataset, num_trials=args.trials)))
    print(f"chance: rank-1 = {100 / counts['test_ids']:.2f} (1 of {counts['test_ids']} identities)")
    return 0


# ---------------------------------------------------------------------------------------------- parser


def _add_data_options(parser: argparse.ArgumentParser, dataset_help: str) -> None:
    parser.add_argument("--dataset", metavar="NAME", help=dataset_help + f" ({', '.join(DATASETS)})")
    parser.add_argument(
        "--data-root",
        metavar="PATH",
        help=f"the data set's own folder (default: ${DATA_ROOT_ENV}/NAME); not for the generated data sets",
    )
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available, else cpu)")


def _overrides_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("overrides", nargs="*", metavar="key=value", help=help_text)


DEFAULT_BENCH_RUNS = Path("runs") / "benchmarks"
"""Runs folder of ``reid reproduce`` / ``reid report`` / ``reid record-smoke`` (as ``pytest benchmarks``)."""

DEFAULT_REPORT_DIR = Path("reports")
"""Report folder of ``reid reproduce`` / ``reid report`` (``pytest benchmarks --report-dir``: the repository's)."""


def _render(golden: Any, profile: str, runs_dir: Path, out: Path) -> list[Path]:
    from reid.report import render_results

    return render_results(golden, profile, runs_dir, out)


def _reproduce(args: argparse.Namespace) -> int:
    from reid.golden import load_golden, select_papers
    from reid.harness.tables import run_tables

    check_regdb_splits(args.regdb_splits)  # a bad flag fails before the device and the weights are looked for
    golden = load_golden()
    device = resolve_device(args.device, profile=args.profile)
    data_root = Path(args.data_root) if args.data_root else None
    runs_dir = Path(args.runs) / args.profile
    weights = pretrained_files(args.pretrained)
    echo = (lambda line: None) if args.quiet else print
    results = run_tables(golden, select_papers(args.paper), profile=args.profile, runs_dir=runs_dir, device=str(device),
                         data_root=data_root, tables=args.table, pretrained=weights, echo=echo,
                         from_scratch=args.from_scratch, regdb_splits=args.regdb_splits)
    written = _render(golden, args.profile, runs_dir, Path(args.report))
    counts = {o: sum(r.outcome == o for r in results) for o in ("passed", "failed", "skipped", "error")}
    print(", ".join(f"{n} {o}" for o, n in counts.items()) + f"; report: {written[0]}")
    return 1 if counts["failed"] or counts["error"] else 0


def _report(args: argparse.Namespace) -> int:
    from reid.golden import load_golden

    written = _render(load_golden(), args.profile, Path(args.runs) / args.profile, Path(args.report))
    pages = [path for path in written if path.suffix == ".html"]
    print(f"wrote {len(pages)} pages and the verdicts ({', '.join(p.name for p in written if p not in pages)}) "
          f"into {Path(args.report)}")
    print(f"report: {written[0]}")  # render_results writes index.html first
    return 0


def _record_smoke(args: argparse.Namespace) -> int:
    from reid.golden import load_golden, select_papers
    from reid.harness.reproduce import record_smoke

    golden = load_golden()
    # One thread by default: a recording is then bitwise repeatable on the machine that made it.
    set_threads(args.threads)
    papers = select_papers(args.paper)
    for key, path in record_smoke(golden, papers, Path(args.runs) / "smoke", tables=args.table, ci_only=args.ci,
                                  recorded_only=args.recorded):
        print(f"recorded {path}" if path else f"{key}: no runnable row, nothing recorded")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from reid.golden import load_golden, select_papers
    from reid.harness.plan import check_all, format_hours, plan_tables, price, split_stand_ins, table_hours

    if not args.tflops > 0:
        raise ConfigError(f"--tflops {args.tflops}: expected a positive sustained throughput in TFLOP/s")
    golden = load_golden()
    per_table, trainings = plan_tables(golden, select_papers(args.paper), profile=args.profile, tables=args.table,
                                       regdb_splits=args.regdb_splits)
    price(trainings)
    tflops = args.tflops
    print(f"{len(trainings)} distinct trainings, profile {args.profile}; estimated at {tflops:g} TFLOP/s sustained "
          "(FLOPs by torch.utils.flop_counter, forward + backward; evaluation not priced)")
    for key, planned in trainings.items():
        c = planned.config
        used = ", ".join(planned.rows) if planned.rows else f"stage of {', '.join(planned.stage_of)}"
        data = c.data.dataset if planned.split is None else f"{c.data.dataset}/{planned.split}"
        print(f"  {key} {c.method:<13} {data:<9} {c.model.arch:<11} {c.data.height}x{c.data.width} "
              f"{planned.epochs:>4} ep x {planned.images_per_epoch:>6} img x {planned.flops_per_image / 1e9:6.1f} "
              f"GFLOP = {planned.flops / 1e15:8.1f} PFLOP, {format_hours(planned.hours(tflops)):>9}  [{used}]")
    print("per table (each distinct training counted once per table):")
    tables, papers = table_hours(per_table, trainings, tflops)
    for paper, number, count, hours in tables:
        print(f"  {paper:<8} Table {number:<3} {count:>3} trainings {format_hours(hours):>10}")
    for paper, hours in papers.items():
        print(f"  {paper:<8} all its tables, a training shared with an earlier table counted there: "
              f"{format_hours(hours)}")
    total = sum(t.hours(tflops) for t in trainings.values())
    regdb = (f"{regdb_splits_note(range(1, args.regdb_splits + 1))}, each split trained on its own (regdb/N)"
             if args.profile == "paper" else "RegDB settings run on the synthetic stand-in")
    print(f"total: {len(trainings)} trainings, {format_hours(total)} at {tflops:g} TFLOP/s; {regdb}")
    if not args.check:
        return 0
    results = check_all(trainings)
    for key, planned in trainings.items():
        if results[key] is None:
            results[key] = weights_problem(planned.config, from_scratch=args.from_scratch)
    stand_ins = split_stand_ins(trainings)
    for key, error in results.items():
        same = f" (as {stand_ins[key]}: another RegDB split, the same model)" if key in stand_ins else ""
        print(f"check {key} {trainings[key].config.method}: {'ok' if error is None else 'FAILED: ' + error}{same}")
    failed = sum(error is not None for error in results.values())
    print(f"checked {len(results)} configs at the {args.profile} profile's size on CPU: {len(results) - failed} ok, "
          f"{failed} failed")
    return 1 if failed else 0


def weights_problem(config: RunConfig, *, from_scratch: bool) -> str | None:
    """What a run's preflight would say of ``config``'s ImageNet weights as the environment gives them
    (:func:`~reid.engine.run.check_weights`: the expected file, or none for a paper-profile run), or ``None``."""
    try:
        check_weights(config, from_scratch=from_scratch)
    except ConfigError as err:
        return f"{type(err).__name__}: {err}"
    return None


def _add_from_scratch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-scratch", action="store_true",
                        help="let a paper-profile run start from scratch when no ImageNet weights file is found "
                             "(refused otherwise; a file that is found is still used)")


def _add_regdb_splits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--regdb-splits", type=int, default=REGDB_SPLITS, metavar="N",
                        help=f"paper profile: a RegDB setting trains its first N splits, 1 to {REGDB_SPLITS}, each on "
                             f"its own, and compares their mean with the paper's (default {REGDB_SPLITS}, as the "
                             "papers)")


def _add_paper_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paper", metavar="PAPER", help="cmmp, ffdml, xiv, mscmnet, cmft or all")
    parser.add_argument("--table", type=int, action="append", help="only this table number (repeatable)")


def _add_bench_folders(parser: argparse.ArgumentParser, *, report: bool) -> None:
    parser.add_argument("--runs", default=str(DEFAULT_BENCH_RUNS), metavar="DIR",
                        help="runs folder (default runs/benchmarks; each profile in DIR/<profile>)")
    if report:
        parser.add_argument("--report", default=str(DEFAULT_REPORT_DIR), metavar="DIR",
                            help=f"report folder (default {DEFAULT_REPORT_DIR})")


def method_options_text(method: str) -> str:
    """The options of ``method`` (``method_options.KEY=VALUE``) with their smoke-profile default and paper value."""
    paper = build_config(method, "paper").method_options
    smoke = build_config(method, "smoke").method_options
    if not paper:
        return f"{method} has no method options (method_options.*).\n"
    width = max(len(k) for k in paper) + 2
    lines = [f"options of {method} (override as method_options.KEY=VALUE):",
             f"  {'KEY'.ljust(width)}{'default (smoke)':<20}paper"]
    lines += [f"  {k.ljust(width)}{smoke.get(k, v)!r:<20}{v!r}" for k, v in paper.items()]
    return "\n".join(lines) + "\n"


def _help_method(argv: Sequence[str]) -> str | None:
    """The registered METHOD of ``reid train METHOD --help``, else ``None``."""
    if len(argv) < 2 or argv[0] != "train" or not {"-h", "--help"} & set(argv):
        return None
    return next((a for a in argv[1:] if a in list_methods()), None)


def build_parser(help_method: str | None = None) -> argparse.ArgumentParser:
    """The ``reid`` parser; ``help_method``: the method whose options ``reid train METHOD --help`` lists."""
    parser = argparse.ArgumentParser(
        prog="reid",
        description="Visible-infrared person re-identification: train, evaluate, check data.",
        epilog="Run `reid COMMAND --help` for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"vireid-repro {reid.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    formatter = argparse.RawDescriptionHelpFormatter

    train = commands.add_parser(
        "train",
        help="train and evaluate a method; writes OUT/<fingerprint>/record.json",
        description="Train METHOD under a profile and evaluate it; print a summary and write the run record.",
        epilog=_EPILOG_TRAIN + ("\n" + method_options_text(help_method) if help_method else ""),
        formatter_class=formatter,
        allow_abbrev=False,
    )
    train.add_argument("method", metavar="METHOD", help=f"a registered method: {', '.join(list_methods())}")
    _overrides_argument(train, "config overrides, e.g. optim.epochs=2 data.options.seed=3 eval.flip=True")
    train.add_argument(
        "--profile", default="smoke", choices=PROFILES, help="smoke (default: synthetic data, small sizes) or paper"
    )
    _add_data_options(train, "data set (default: the profile's: synthetic for smoke, the paper's for paper)")
    train.add_argument(
        "--seed", type=int, help="the run's seed; every random stream derives from it (default: the profile's, 0)"
    )
    train.add_argument("--pretrained", metavar="PATH", help="local file of ImageNet weights for the backbone")
    _add_from_scratch(train)
    train.add_argument("--out", default="runs", metavar="DIR", help="runs folder (default: runs)")
    train.add_argument("--no-resume", action="store_true", help="train afresh even if the run folder has a checkpoint")
    train.add_argument("--deterministic", action="store_true", help="CUDA: deterministic cuDNN kernels (slower)")
    noise = train.add_mutually_exclusive_group()
    noise.add_argument("--quiet", action="store_true", help="print only the final line; no progress bars (CI)")
    noise.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bars per epoch (default: when stderr is a terminal)",
    )
    train.set_defaults(command_parser=train, handler=_train, takes_overrides=True)

    evaluate = commands.add_parser(
        "eval",
        help="evaluate a saved model (last.pt, best.pt or a run folder)",
        description="Evaluate the weights of CHECKPOINT; print the metrics and write an evaluation record.",
        epilog=_EPILOG_EVAL,
        formatter_class=formatter,
        allow_abbrev=False,
    )
    evaluate.add_argument("checkpoint", metavar="CHECKPOINT", help="last.pt or best.pt of a run, or a run folder")
    _overrides_argument(evaluate, "data.* and eval.* overrides, e.g. eval.protocol_options.mode=indoor")
    _add_data_options(evaluate, "data set to evaluate on (default: the checkpoint's)")
    evaluate.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="flip test-time augmentation (default: as the run)",
    )
    evaluate.add_argument("--feature", help="primary feature: bn or pool (default: as the run)")
    evaluate.add_argument("--out", metavar="PATH", help="record file, or folder to put it in (default: beside it)")
    evaluate.add_argument("--quiet", action="store_true", help="print only the final line")
    evaluate.set_defaults(command_parser=evaluate, handler=_eval, takes_overrides=True)

    datasets = commands.add_parser(
        "datasets",
        help="where each data set is looked for and what is found there",
        description="For every registered data set: the folders it is looked for in and what each holds.",
        epilog=_EPILOG_DATASETS,
        formatter_class=formatter,
        allow_abbrev=False,
    )
    datasets.add_argument(
        "--data-root",
        action="append",
        default=[],
        metavar="PARENT",
        help="a folder holding data sets as NAME/ sub-folders (repeatable); with --dataset also the folder itself",
    )
    datasets.add_argument("--dataset", metavar="NAME", help="only this data set")
    datasets.set_defaults(command_parser=datasets, handler=_datasets, takes_overrides=False)

    demo = commands.add_parser("demo", help="evaluate every SYSU-MM01 protocol option on the synthetic data")
    demo.add_argument("--seed", type=int, default=0, help="synthetic data seed (default 0)")
    demo.add_argument("--modality-gap", type=float, default=0.5, help="synthetic modality gap in [0, 1] (default 0.5)")
    demo.add_argument("--trials", type=int, default=10, help="gallery trials per setting (default 10)")
    demo.set_defaults(command_parser=demo, handler=_demo, takes_overrides=False)

    reproduce = commands.add_parser(
        "reproduce",
        help="run a paper's table rows (the benchmark cases) and render the HTML report",
        description="Run every row of PAPER's tables (or --table N) under a profile, then render reports/.",
        allow_abbrev=False,
    )
    _add_paper_selection(reproduce)
    reproduce.add_argument("--profile", default="smoke", choices=PROFILES,
                           help="smoke (default: synthetic data on CPU) or paper (real data, CUDA)")
    reproduce.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available, else cpu)")
    reproduce.add_argument("--data-root", metavar="DIR",
                           help=f"folder of the real data sets (default ${DATA_ROOT_ENV})")
    reproduce.add_argument("--pretrained", action="append", default=[], metavar="[ARCH=]PATH",
                           help="ImageNet weights for paper-profile runs, one per architecture: ARCH=PATH "
                                "(resnet50=PATH), a folder of torchvision's files, or a file named as torchvision "
                                "does (repeatable)")
    _add_from_scratch(reproduce)
    _add_regdb_splits(reproduce)
    _add_bench_folders(reproduce, report=True)
    reproduce.add_argument("--quiet", action="store_true", help="print only the summary line")
    reproduce.set_defaults(command_parser=reproduce, handler=_reproduce, takes_overrides=False)

    report = commands.add_parser(
        "report",
        help="render the HTML report from golden/ and the recorded case results",
        description="Render reports/index.html and one page per paper from golden/ and the runs of a profile.",
        allow_abbrev=False,
    )
    report.add_argument("--profile", default="smoke", choices=PROFILES, help="whose results (default smoke)")
    _add_bench_folders(report, report=True)
    report.set_defaults(command_parser=report, handler=_report, takes_overrides=False)

    planning = commands.add_parser(
        "plan",
        help="list and price every distinct training of a paper's tables; --check steps each at full size on CPU",
        description="What reproducing PAPER's tables will train and what it costs, before it runs.",
        allow_abbrev=False,
    )
    _add_paper_selection(planning)
    planning.add_argument("--profile", default="paper", choices=PROFILES, help="paper (default) or smoke")
    planning.add_argument("--tflops", type=float, default=DEFAULT_TFLOPS,
                          help=f"sustained training throughput in TFLOP/s (default {DEFAULT_TFLOPS:g}, an assumption)")
    planning.add_argument("--check", action="store_true",
                          help="build every distinct config at full size and run one training step and one test "
                               "forward on random data, on CPU; and check the ImageNet weights the environment "
                               "gives each as its run would ($REID_PRETRAINED_<ARCH>, $REID_PRETRAINED_DIR)")
    _add_from_scratch(planning)
    _add_regdb_splits(planning)
    planning.set_defaults(command_parser=planning, handler=_plan, takes_overrides=False)

    record = commands.add_parser(
        "record-smoke",
        help="record the smoke golden of a paper's tables (golden/smoke/); never run by the tests",
        description="Run every runnable row of PAPER's tables under the smoke profile and write golden/smoke/.",
        allow_abbrev=False,
    )
    _add_paper_selection(record)
    record.add_argument("--ci", action="store_true",
                        help="only the rows of the CI selection, kept beside the tables' other recorded rows")
    record.add_argument("--recorded", action="store_true",
                        help="only the rows the tables' recordings already have (re-record after a change)")
    _add_bench_folders(record, report=False)
    record.add_argument("--threads", type=int, default=SMOKE_THREADS,
                        help=f"torch threads (default {SMOKE_THREADS}; cases run with any thread count)")
    record.set_defaults(command_parser=record, handler=_record_smoke, takes_overrides=False)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``, letting ``key=value`` overrides sit anywhere among the options.

    argparse gives a ``nargs="*"`` positional only the items before the first option; the
    later ``key=value`` items come back unrecognised and are appended here, in order.
    """
    args, extra = parser.parse_known_args(argv)
    if not extra:
        return args
    bad = [item for item in extra if item.startswith("-") or "=" not in item]
    if bad or not args.takes_overrides:
        args.command_parser.error(f"unrecognized arguments: {' '.join(bad or extra)}")
    args.overrides = [*args.overrides, *extra]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reid`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_help_method(argv))
    try:
        args = parse_args(parser, argv)
    except SystemExit as exit_:
        # --help, --version and usage errors: argparse has printed; report its status.
        if exit_.code is None:
            return 0
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return args.handler(args)
    except ReidError as err:
        print(f"reid: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
