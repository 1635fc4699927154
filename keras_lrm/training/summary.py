"""What a finished run prints: its figures, where it wrote, what next."""

import os
import shlex

from keras_lrm.progress import format_seconds


def _value(result):
    digits = 4 if result["unit"] == "bpc" else 2
    return f"{result['value']:.{digits}f}"


def run_summary(results, wall_seconds, files):
    """The lines printed at the end of `run_experiment`.

    Args:
        results: the run's results (`before`, `after`, `train`, `test`,
            `experiment`, ...).
        wall_seconds: this run's wall time, from start to end.
        files: `(what, path)` pairs of what the run wrote, in order;
            entries whose path is empty are left out.

    Returns:
        The summary as one string of lines.
    """
    experiment = results.get("experiment", {})
    lines = [f"Run {experiment.get('name', '')!r} finished in "
             f"{format_seconds(wall_seconds)} (wall time)."]
    before, after = results.get("before"), results.get("after")
    if after:
        unit = after["unit"]
        change = f"{_value(before)} before -> " if before else ""
        lines.append(f"  validation {unit}: {change}{_value(after)} after "
                     f"({after['tokens']:,} tokens)")
    if results.get("test"):
        test = results["test"]
        lines.append(f"  test {test['unit']}: {_value(test)} "
                     f"({test['tokens']:,} tokens)")
    train = results.get("train")
    if train:
        attempts = train.get("attempts", 1)
        resumed = f", over {attempts} runs" if attempts > 1 else ""
        loss = train.get("last_loss")
        loss = f", last loss {loss:.4f}" if loss is not None else ""
        lines.append(
            f"  training: {train['steps']} steps in "
            f"{format_seconds(train['seconds'])} (compiling included)"
            f"{resumed}, "
            f"{train['tokens_per_second']:,.0f} tokens/s{loss}")
    shown = [(what, path) for what, path in files if path]
    if shown:
        width = max(len(what) for what, _ in shown) + 1
        for what, path in shown:
            lines.append(f"  {what + ':':<{width}} {path}")
    target = results.get("export_path") or results.get("model_path")
    if target:
        prompt = experiment.get("sample_prompt") or "The "
        lines.append("Next, generate text: python recipes/generate.py "
                     f"--model {shlex.quote(target)} "
                     f"--prompt {shlex.quote(prompt)}")
    log_dir = experiment.get("log_dir")
    if log_dir:
        lines.append("Or watch the curves: tensorboard --logdir "
                     f"{shlex.quote(os.path.normpath(log_dir))}")
    return "\n".join(lines)
