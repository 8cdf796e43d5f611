"""The command line: `python -m dropviz run | sweep | seeds | results | bench` (also the `dropviz` script).

Every LabConfig field is a flag, made from its declaration in config.py (a Setting), and every
value is read by that Setting's parser, so the command line accepts exactly what the page accepts
(strictly: a bad value is an error here, where a link's is clamped). Exit codes: 0 done, 1 the
run diverged, 2 bad arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .config import DEFAULTS, PRESETS, SCHEMA, ConfigError, LabConfig, preset, schema_of

EXIT_OK, EXIT_DIVERGED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
OUT_FORMATS = (".json", ".csv")


# --- flags -------------------------------------------------------------------------------------------

def add_config_flags(parser: argparse.ArgumentParser, lists: bool = False, base: LabConfig = DEFAULTS) -> None:
    """--preset and one flag per setting of `base`'s schema (config.py: its flag, help and range);
    values stay strings here and are read by `Setting.parse` in config_from_args.

    With `lists` (the seeds search) there is no --preset and each flag takes comma-separated values."""
    if not lists:
        parser.add_argument("--preset", choices=tuple(PRESETS), help="start from a named preset; other flags override it")
    group = parser.add_argument_group(
        "settings (every field of the lab's config; comma-separated values make a grid, e.g. --noise 0.5,1)" if lists
        else "settings (every field of the lab's config)")
    for s in schema_of(type(base)).values():
        also = [f"--{s.name}"] if s.flag == "--" + s.name.replace("_", "-") != f"--{s.name}" else []  # --n_seeds too
        metavar = "{" + ",".join(s.choices) + "}" if s.choices else s.name.upper()
        group.add_argument(s.flag, *also, dest=s.name, metavar=metavar, default=None,
                           help=f"{s.help} [{s.describe()}; default {getattr(base, s.name)}]")


def config_from_args(args: argparse.Namespace, base: LabConfig = DEFAULTS) -> LabConfig:
    """The LabConfig the flags describe: the preset (or `base`), then each flag given."""
    changes = {name: s.parse(getattr(args, name)) for name, s in schema_of(type(base)).items()
               if getattr(args, name, None) is not None}
    return preset(args.preset, **changes) if getattr(args, "preset", None) else base.with_(**changes)


def grid_from_args(args: argparse.Namespace) -> dict[str, tuple]:
    """Each config flag given, as the tuple of its comma-separated values (one value: a 1-tuple)."""
    grid = {}
    for name, s in SCHEMA.items():
        text = getattr(args, name, None)
        if text is None:
            continue
        items = [item for item in text.split(",") if item.strip()]
        if not items:
            raise ConfigError(f"{name}={text!r}: give at least one value")
        grid[name] = tuple(dict.fromkeys(s.parse(item) for item in items))  # in order, once each
    return grid


def parse_list(text: str, kind: Callable[[str], Any] = float) -> list:
    """'0,0.1,0.2' or with an ellipsis '0,0.1,...,0.9' (step from the first two) or '1,...,5' (step 1)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if "..." not in parts:
        return [kind(p) for p in parts]
    if parts.count("...") != 1 or parts[-1] == "..." or parts.index("...") == 0:
        raise ValueError(f"{text!r}: put '...' between a start and an end, e.g. 0,0.1,...,0.9")
    i = parts.index("...")
    head, end = [float(p) for p in parts[:i]], float(parts[-1])
    step = head[1] - head[0] if len(head) > 1 else 1.0
    if step <= 0 or end < head[-1]:
        raise ValueError(f"{text!r}: the values must increase")
    count = int(math.floor((end - head[0]) / step + 1e-9)) + 1
    values = [round(head[0] + k * step, 10) for k in range(count)]
    return [kind(_fmt_number(v)) for v in values]


def _fmt_number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)


# --- output --------------------------------------------------------------------------------------------

class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal, at most 10 times a second."""

    def __init__(self, total: int, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.total = total
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < 0.1):
            return
        self._last = now
        width = 30
        filled = int(width * done / max(self.total, 1))
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} {note}"
        self.stream.write(line[:120].ljust(80))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _snap_note(snap) -> str:
    """Test loss per distinct p (the median over its seeds), for the first few p values."""
    by_p: dict[float, list[float]] = {}
    for p, t in zip(snap.ps.tolist(), snap.test_loss.tolist()):
        by_p.setdefault(p, []).append(t)
    losses = " ".join(f"p={p:g}: {statistics.median(ts):.3g}" for p, ts in list(by_p.items())[:4])
    return f"test {losses}{' …' if len(by_p) > 4 else ''}  {snap.its_per_sec:,.0f} it/s"


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], markdown: bool = False) -> str:
    """Rows of cells as an aligned text table, or as a markdown table."""
    cells = [[_cell(c) for c in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def _json_number(value: Any) -> Any:
    value = float(value)
    return value if math.isfinite(value) else None  # JSON has no NaN


def write_out(path: Path, config: LabConfig, snap, extra: dict | None = None) -> None:
    """Final metrics and the (downsampled) loss history: JSON, or CSV with one row per iteration and model."""
    from .train import final_metrics

    final = final_metrics(snap)
    h = snap.history
    its = [int(i) for i in h["iteration"]]
    # The losses' columns, and for a classification run the accuracies' (history keys train_acc, test_acc).
    columns = {"train_loss": h["train"].tolist(), "test_loss": h["test"].tolist(),
               **{key: h[key].tolist() for key in ("train_acc", "test_acc") if key in h}}
    if path.suffix.lower() == ".json":
        doc = {"config": config.to_dict(), "final": final, **(extra or {}),
               "history": {"iteration": its, "ps": [float(p) for p in snap.ps], "seeds": [int(s) for s in snap.seeds],
                           **{key: [[_json_number(v) for v in row] for row in rows] for key, rows in columns.items()}}}
        path.write_text(json.dumps(doc, indent=1) + "\n")
        return
    with path.open("w", newline="") as f:  # .csv: the rows of the last iteration are the final metrics
        writer = csv.writer(f)
        writer.writerow(["iteration", "model", "p", "seed", *columns])
        for k, it in enumerate(its):
            for m, (p, s) in enumerate(zip(snap.ps, snap.seeds)):
                writer.writerow([it, m, f"{float(p):g}", int(s), *(repr(float(rows[k][m])) for rows in columns.values())])


# --- commands ------------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    """Train the p = 0 baseline and the dropout model side by side (for each of --n-seeds seeds);
    print the final losses."""
    from .train import run

    config = config_from_args(args)
    snap = _drive(run(config), config.epochs, args.progress)
    if snap.device_note:
        print(f"dropviz: {snap.device_note}", file=sys.stderr)
    from .seeds import describe

    many, classify = config.n_seeds > 1, config.task == "classification"
    seeds = f"seeds {config.seed}…{int(snap.all_seeds[-1])}" if many else f"seed {config.seed}"
    print(f"{config.epochs} iterations, {config.dataset} data ({describe(config, dataset=False)}), "
          f"{'-'.join(map(str, [2 if classify else 1] + [config.width] * config.depth))}-1, {config.optimizer} lr "
          f"{config.lr:g}{_step_extras(config)}, {seeds}, {snap.device}, {snap.its_per_sec:,.0f} it/s")
    rows = [("baseline" if m % 2 == 0 else "dropout", f"{p:g}", *([int(s)] if many else []), float(tr), float(te),
             *([f"{snap.all_train_acc[m]:.1%}", f"{snap.all_test_acc[m]:.1%}"] if classify else []))
            for m, (p, s, tr, te) in enumerate(zip(snap.all_ps, snap.all_seeds, snap.all_train_loss, snap.all_test_loss))]
    print(format_table(["model", "p", *(["seed"] if many else []), "train loss", "test loss",
                        *(["train acc", "test acc"] if classify else [])], rows))
    if snap.status == "done":
        print(_seeds_verdict(snap) if many else _verdict(snap))
    if args.out:
        write_out(args.out, config, snap)
        print(f"wrote {args.out}")
    return _finish(snap)


def _step_extras(config: LabConfig) -> str:
    """What a step does beyond the source's full-batch step: ', batches of 8, L1 0.001' or ''."""
    return "".join([f", batches of {config.batch_size}" if config.batch_size else "",
                    f", L1 {config.l1:g}" if config.l1 else ""])


def _seeds_verdict(snap) -> str:
    """The lab's verdict over seeds (dropviz.verdict), as one plain line."""
    from .verdict import loss, over_seeds

    v = over_seeds(snap)
    return (f"Dropout had the lower test loss on {v.wins} of {v.n} seeds (median {loss(v.median_p)} with "
            f"p = {v.p:g} vs {loss(v.median_p0)} with p = 0).")


def _verdict(snap) -> str:
    (p0, p1), (t0, t1) = snap.ps, snap.test_loss
    if not (math.isfinite(t0) and math.isfinite(t1)):
        return "One model diverged; no comparison."
    if math.isclose(t0, t1, rel_tol=1e-3):
        return "Both models generalise equally well (same test loss)."
    p, ours, theirs = (p1, t1, t0) if t1 < t0 else (p0, t0, t1)
    return (f"The p={p:g} model generalises better: test loss {ours:.4f} vs {theirs:.4f} "
            f"({'dropout helps' if t1 < t0 else 'dropout does not help'} here).")


def cmd_sweep(args: argparse.Namespace) -> int:
    """Train every (p, seed) pair at once; print median test loss and its spread per p."""
    from .train import sweep

    config = config_from_args(args)
    config = config.with_(**_headless_interval(args, config.epochs))
    ps, seeds = _checked_ps(args.ps), _checked_seeds(args.seeds)
    snap = _drive(sweep(config, ps, seeds), config.epochs, args.progress)
    print(f"{len(ps)} p values × {len(seeds)} seeds = {len(ps) * len(seeds)} models, {config.epochs} iterations, "
          f"{config.dataset} data, {snap.its_per_sec:,.0f} it/s ({snap.its_per_sec * len(snap.ps):,.0f} model-it/s)")
    rows = []
    for i, p in enumerate(ps):
        test = snap.test_loss[i * len(seeds):(i + 1) * len(seeds)].tolist()
        train = snap.train_loss[i * len(seeds):(i + 1) * len(seeds)].tolist()
        rows.append((f"{p:g}", _median(train), _median(test), min(test), max(test)))
    print(format_table(["p", "train loss (median)", "test loss (median)", "test min", "test max"], rows,
                       markdown=args.markdown))
    finite = [r for r in rows if math.isfinite(r[2])]
    if finite:
        best = min(finite, key=lambda r: r[2])
        print(f"Lowest median test loss: p={best[0]} ({best[2]:.4f}), over seeds {','.join(map(str, seeds))}.")
    if snap.status == "done" and snap.diverged is not None and snap.diverged.any():
        print(snap.message, file=sys.stderr)  # some models diverged, the others finished
    if args.out:
        write_out(args.out, config, snap)
        print(f"wrote {args.out}")
    return _finish(snap)


def cmd_seeds(args: argparse.Namespace) -> int:
    """Does dropout's lesson hold across seeds? Each setting's p = 0 and p models over every seed, one batched run."""
    from . import seeds as over

    seeds = _checked_seeds(args.seeds)
    if args.seed is not None:
        raise ConfigError(f"seed={args.seed}: this command trains every seed of --seeds (now {args.seeds})")
    names, grid = _preset_names(args.presets), grid_from_args(args)
    if grid or args.no_grid:
        rows = over.candidates(names, grid)
    else:  # each preset tried around its own setting: a 2-D preset's noise stays within Playground's 0-0.5
        rows = [row for name in names for row in over.candidates([name], over.default_grid(preset(name)))]
    if args.window is not None and not 1 <= args.window <= len(seeds):
        raise ConfigError(f"window={args.window}: must be between 1 and the number of seeds ({len(seeds)})")
    tallies, status = _over_seeds(rows, seeds, args)
    epochs = sorted({t.config.epochs for t in tallies})
    print(f"Dropout (the setting's p) against p = 0 over seeds {_seed_span(seeds)}: each setting is one batched run of "
          f"2 × {len(seeds)} models, {'/'.join(map(str, epochs))} iterations; final test loss in eval mode (the MSE, "
          f"or for 2-D data the cross-entropy).")
    print(seed_table(tallies, args.window, markdown=args.markdown))
    print(f"\n{HOLDS_NOTE}")
    if args.figures:
        print(figures_literal(tallies))
    if args.json:
        Path(args.json).write_text(json.dumps([t.to_dict() for t in tallies], indent=1) + "\n")
    return status


HOLDS_NOTE = ("holds: dropout's test loss lower on at least 95 % of the seeds (19 of 20) and a median ratio "
              "dropout / p = 0 of at most 0.6 (the median over seeds of each seed's ratio).")


def _over_seeds(rows, seeds: list[int], args: argparse.Namespace):
    """Each (label, config) trained over `seeds` in one batched run; the tallies and the worst exit status."""
    from . import seeds as over

    tallies, status = [], EXIT_OK
    for label, config in rows:
        if getattr(args, "snapshot_every", None) is None:
            config = config.with_(**_headless_interval(args, config.epochs))
        snap = _drive(over.over_seeds_run(config, seeds), config.epochs, args.progress)
        tallies.append(over.tally(label, config, seeds, snap))
        if snap.status != "done":
            print(f"dropviz: {label}:", file=sys.stderr)
            status = max(status, _finish(snap))
        elif snap.diverged is not None and snap.diverged.any():
            print(f"dropviz: {label}: {snap.message}", file=sys.stderr)  # some models diverged, the others finished
    return tallies, status


def seed_table(tallies, window: int | None = None, markdown: bool = True) -> str:
    """One row per setting: on how many seeds dropout's test loss was lower, medians, median ratio, holds."""
    from .seeds import describe

    headers = ["setting", "data", "p", "dropout lower on"]
    headers += [f"fewest in {window} consecutive"] if window else []
    headers += ["test loss p = 0 (median)", "test loss dropout (median)", "ratio dropout / p = 0 (median)", "holds"]
    rows = []
    for t in tallies:
        row = [t.label, describe(t.config), f"{t.config.p:g}", f"{t.wins} of {t.n} seeds"]
        row += [f"{t.fewest_wins(window)} of {window}"] if window else []
        row += [_fixed3(t.median_p0), _fixed3(t.median_p), _fixed3(t.median_ratio, 2), "yes" if t.holds() else "no"]
        rows.append(row)
    return format_table(headers, rows, markdown=markdown)


def figures_literal(tallies) -> str:
    """PRESET_OVER_SEEDS for dropviz/config.py, from the rows that are presets as they are."""
    from .seeds import preset_of

    lines = ["PRESET_OVER_SEEDS: dict[str, dict[str, Any]] = {"]
    for t in tallies:
        if (name := preset_of(t.config)) is not None:
            fig = ", ".join(f"{k}={v!r}" for k, v in t.figures().items())
            lines.append(f'    "{name}": dict({fig}),')
    return "\n".join(lines + ["}"])


def _fixed3(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "nan"


def _seed_span(seeds: Sequence[int]) -> str:
    """'11–30' for consecutive seeds, else the list."""
    if len(seeds) > 2 and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}–{seeds[-1]}"
    return ",".join(map(str, seeds))


def _preset_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        preset(name)  # unknown names fail before any training
    if not names:
        raise ConfigError("presets: give at least one preset name, e.g. --presets classroom")
    return names


def cmd_results(args: argparse.Namespace) -> int:
    """The README's table: each preset's final train/test loss for p = 0 vs p = 0.5, median over seeds."""
    from .seeds import candidates, describe
    from .train import sweep

    seeds, ps, names = _checked_seeds(args.seeds), [0.0, args.p], [n.strip() for n in args.presets.split(",")]
    table, status, doc = [], EXIT_OK, {}
    for name in names:
        config = preset(name, device=args.device, **({"epochs": args.epochs} if args.epochs else {}))
        config = config.with_(**_headless_interval(args, config.epochs))
        snap = _drive(sweep(config, ps, seeds), config.epochs, args.progress)
        k = len(seeds)
        med = {key: [_median(getattr(snap, key)[i * k:(i + 1) * k].tolist()) for i in range(2)]
               for key in ("train_loss", "test_loss")}
        setting = describe(config)
        for i, p in enumerate(ps):
            table.append((name, setting, f"{p:g}", med["train_loss"][i], med["test_loss"][i]))
        doc[name] = {"config": config.to_dict(), "p": ps, "seeds": seeds,
                     "train_loss_median": med["train_loss"], "test_loss_median": med["test_loss"]}
        status = max(status, _finish(snap))
    print(format_table(["preset", "data", "p", "train loss", "test loss"], table, markdown=not args.plain))
    loss = "MSE" if all(preset(n).task == "regression" for n in names) else "loss (MSE; for 2-D presets the cross-entropy)"
    print(f"\nFinal {loss} after each preset's iterations, eval mode, median over seeds "
          f"{','.join(map(str, seeds))}; `python -m dropviz results`.")
    if args.over_seeds.strip().lower() not in ("", "none"):
        over_seeds = _checked_seeds(args.over_seeds)
        fixed = {"p": (args.p,), "device": (args.device,), **({"epochs": (args.epochs,)} if args.epochs else {})}
        tallies, over_status = _over_seeds(candidates(names, fixed), over_seeds, args)
        same = f"--presets {','.join(names)} --no-grid --seeds {args.over_seeds}" + \
            (f" --p {args.p:g}" if any(preset(n).p != args.p for n in names) else "") + \
            (f" --epochs {args.epochs}" if args.epochs else "")
        print(f"\nOver seeds {_seed_span(over_seeds)} (each preset one batched run of its p = 0 and p = {args.p:g} "
              f"models for every seed; `python -m dropviz seeds {same}` gives the same table):\n")
        print(seed_table(tallies, markdown=not args.plain))
        print(f"\n{HOLDS_NOTE}")
        for name, t in zip(names, tallies):  # one row per preset: every grid field has one value
            doc[name]["over_seeds"] = t.to_dict()
        status = max(status, over_status)
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    return status


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench

    return bench.main(args)


# --- helpers -------------------------------------------------------------------------------------------

def _drive(snapshots, total: int, progress: bool | None):
    """Consume a run's snapshots with a progress bar; the last snapshot. Ctrl-C cancels cleanly."""
    bar = Progress(total, enabled=progress)
    snap = None
    try:
        for snap in snapshots:
            bar.update(snap.iteration, _snap_note(snap), force=snap.finished)
    finally:
        bar.close()
    return snap


def _finish(snap) -> int:
    if snap.status == "diverged":
        print(f"dropviz: diverged: {snap.message}", file=sys.stderr)
        return EXIT_DIVERGED
    if snap.status != "done":
        print(f"dropviz: {snap.status}: {snap.message}", file=sys.stderr)
        return EXIT_DIVERGED
    return EXIT_OK


def _headless_interval(args: argparse.Namespace, epochs: int) -> dict:
    """Sweeps need few snapshots (each evaluates every model): about 50 per run unless asked."""
    if getattr(args, "snapshot_every", None) is not None:
        return {}
    return {"snapshot_every": min(max(epochs // 50, 1), int(SCHEMA["snapshot_every"].hi))}


def _checked_ps(text: str) -> list[float]:
    """--ps: each value read and checked as --p is (config.SCHEMA's parser)."""
    try:
        ps = parse_list(text, SCHEMA["p"].parse)
    except ValueError as e:  # a ConfigError too: "ps: p=1.2: must be …"
        raise ConfigError(f"ps: {e}") from None
    if not ps:
        raise ConfigError("ps: give at least one drop probability, e.g. --ps 0,0.5")
    return ps


def _checked_seeds(text: str) -> list[int]:
    """--seeds: each value read and checked as --seed is."""
    try:
        seeds = parse_list(text, SCHEMA["seed"].parse)
    except ValueError as e:
        raise ConfigError(f"seeds: {e}") from None
    if not seeds:
        raise ConfigError("seeds: give at least one seed, e.g. --seeds 1,2,3")
    return seeds


def _median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if len(finite) == len(values) and finite else float("nan")


def _out_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in OUT_FORMATS:
        raise argparse.ArgumentTypeError(f"{text!r}: the file name must end in .json or .csv")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dropviz", description="dropviz: train real networks with and without dropout.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,sweep,seeds,results,bench}")

    run_p = sub.add_parser("run", help="train the p=0 baseline and a dropout model side by side")
    add_config_flags(run_p)
    _add_common(run_p, out=True)
    run_p.set_defaults(func=cmd_run)

    sweep_p = sub.add_parser("sweep", help="train many p values (and seeds) at once, print test loss per p")
    sweep_p.add_argument("--ps", default="0,0.1,...,0.9", help="drop probabilities, e.g. 0,0.25,0.5 or 0,0.1,...,0.9")
    sweep_p.add_argument("--seeds", default="1,2,3", help="seeds, e.g. 1,2,3 or 1,...,5 (median and spread over them)")
    sweep_p.add_argument("--markdown", action="store_true", help="print the table as markdown")
    add_config_flags(sweep_p)
    _add_common(sweep_p, out=True)
    sweep_p.set_defaults(func=cmd_sweep)

    _add_seeds_parser(sub)
    _add_results_parser(sub)
    _add_bench_parser(sub)
    return parser


def _add_common(p: argparse.ArgumentParser, out: bool = False) -> None:
    if out:
        p.add_argument("--out", type=_out_path, metavar="FILE",
                       help="write final metrics and loss history to FILE.json or FILE.csv")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: only on a terminal)")


def _add_seeds_parser(sub) -> None:
    seeds_p = sub.add_parser("seeds", help="does dropout's lesson hold across seeds? p=0 vs p over many seeds, per setting")
    seeds_p.add_argument("--presets", default="source,classroom",
                         help="presets to start from; default source,classroom (each also as it is, unless a "
                              "setting flag changes it)")
    seeds_p.add_argument("--seeds", default="11,...,30", help="seeds, e.g. 11,...,30 (the default) or 1,...,20")
    seeds_p.add_argument("--no-grid", action="store_true",
                         help="check the presets as they are; without it and without setting flags, each preset is "
                              "tried with n_points 10,20,30 × noise 0.5,1")
    seeds_p.add_argument("--window", type=int, default=None,
                         help="also the fewest seeds with dropout lower in any WINDOW consecutive seeds")
    seeds_p.add_argument("--markdown", action="store_true", help="print the table as markdown")
    seeds_p.add_argument("--json", metavar="FILE", help="also write every setting's per-seed test losses to FILE")
    seeds_p.add_argument("--figures", action="store_true",
                         help="also print PRESET_OVER_SEEDS for dropviz/config.py (the presets as they are)")
    add_config_flags(seeds_p, lists=True)
    _add_common(seeds_p)
    seeds_p.set_defaults(func=cmd_seeds)


def _add_results_parser(sub) -> None:
    res_p = sub.add_parser("results", help="the README table: presets' train/test loss for p=0 vs p=0.5, median over seeds")
    res_p.add_argument("--presets", default="source,classroom", help="comma-separated preset names")
    res_p.add_argument("--seeds", default="1,...,5", help="seeds to take the median over")
    res_p.add_argument("--p", default="0.5", help="drop probability of the dropout models")  # read in main
    res_p.add_argument("--epochs", default=None, help="override the presets' iterations (for a quick look)")
    res_p.add_argument("--device", default="auto", choices=SCHEMA["device"].choices, help=SCHEMA["device"].help)
    res_p.add_argument("--plain", action="store_true", help="an aligned text table instead of markdown")
    res_p.add_argument("--over-seeds", default="11,...,30",
                       help="seeds of the second table: on how many dropout's test loss is lower ('none' to skip)")
    res_p.add_argument("--json", help="also write the medians to this JSON file")
    _add_common(res_p)
    res_p.set_defaults(func=cmd_results)


def _add_bench_parser(sub) -> None:
    bench_p = sub.add_parser("bench", help="training speed: batched pair and sweep vs a plain PyTorch loop")
    bench_p.add_argument("--threads", type=int, default=None,
                         help="torch.set_num_threads for every case (default: torch's own, from OMP_NUM_THREADS or the cores)")
    bench_p.add_argument("--repeats", type=int, default=None,
                         help="timed repeats per case (default 7; with --end-to-end, of each process: 3); the best is reported")
    bench_p.add_argument("--seconds", type=float, default=0.25, help="length of one timed repeat of one case")
    bench_p.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")
    bench_p.add_argument("--paced", action="store_true",
                         help="instead: how many runs paced for watching one core keeps at full pace (about a minute)")
    bench_p.add_argument("--profile", action="store_true",
                         help="then show where an iteration of the pair and of the sweep spends its time, op by op")
    bench_p.add_argument("--end-to-end", action="store_true",
                         help="instead: `dropviz run --preset source` as a whole process (N iterations minus 1) against "
                              "the source's loop as a process (best of 3)")
    bench_p.add_argument("--classify", action="store_true",
                         help="instead: a 2-D classification pair's training step against the 1-D pair's, at the "
                              "same width and number of points (issue 14's target: within 1.5×)")
    bench_p.add_argument("--iterations", type=int, default=4000, help="with --end-to-end: N")
    bench_p.add_argument("--backend", choices=("auto", "fused", "reference"), default="auto",
                         help="with --end-to-end: the training step the lab's run uses")
    bench_p.set_defaults(func=cmd_bench)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "results":
            for name in args.presets.split(","):
                preset(name.strip())  # unknown names fail before any training
            args.p = SCHEMA["p"].parse(args.p)  # read as the run's own flags are
            args.epochs = None if args.epochs is None else SCHEMA["epochs"].parse(args.epochs)
        return args.func(args)
    except ConfigError as e:
        print(f"dropviz: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dropviz: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `dropviz sweep | head`
        sys.stderr.close()
        return EXIT_OK
