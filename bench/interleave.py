# Adapted from the company peer-benchmark harness
# (shared/bench/peers/driver.py, 2026-11-22): its worker processes, idle
# wait and interleaved rounds.
"""Runs harness workers interleaved round-robin on a quiet machine (stdlib).

One process per worker, built and warmed one at a time; then R rounds in
which every worker runs K timed steps, the order rotating (and reversing
every other round) so all workers see the same background load.  Before
each measurement it waits for the machine to be idle, and it re-measures
a worker when other processes used more than FOREIGN_MAX of the CPUs
during its steps.  After warm-up it records the peak RSS so far (build,
tracing, compilation) and resets the kernel's mark, so the final `rss`
gives the peak of the timed steps alone.
"""
import json
import os
import statistics
import subprocess
import time

# Workers run as modules (`python -m bench...`) from the repository root.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
FOREIGN_MAX = 0.05


def sys_busy():
    """Busy jiffies of the whole machine (all CPUs)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)


def proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return int(parts[11]) + int(parts[12])  # utime + stime, all threads
    except OSError:
        return 0


def wait_quiet(max_wait, window=0.5, thresh=0.03):
    """Blocks until the machine is idle for one window or max_wait passes;
    returns the seconds waited."""
    t0 = time.perf_counter()
    while True:
        b0 = sys_busy()
        time.sleep(window)
        frac = (sys_busy() - b0) / CLK / (window * NCPU)
        waited = time.perf_counter() - t0
        if frac < thresh or waited >= max_wait:
            return waited


class Worker:
    """One worker process speaking the harness protocol over stdin/stdout."""

    def __init__(self, spec, log_dir, env):
        self.spec = spec
        self.name = spec["name"]
        self.err = open(os.path.join(log_dir, self.name + ".stderr"), "w")
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(
            spec["cmd"], cwd=spec.get("cwd", ROOT), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self.err, text=True,
            env=dict(env, **spec.get("env", {})))
        self.info, self.dead = None, None
        self.times, self.rounds, self.foreign, self.attempts = [], [], [], []
        self.warm, self.losses = [], []
        self.rss_warm = self.rss_end = None
        self.waited_s = 0.0

    def read(self):
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.name} exited rc={self.p.wait()}")
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        return self.read()

    def guard(self, fn, *args):
        """Runs fn(*args); a failure marks the worker dead instead of the
        run."""
        try:
            return fn(*args)
        except Exception as e:  # noqa: BLE001 (a dead worker, any reason)
            self.dead = str(e)
            print(f"  {self.name}: FAILED {e}", flush=True)
            return None

    def close(self):
        try:
            self.cmd("quit")
        except Exception:  # noqa: BLE001
            pass
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
        self.err.close()


def start(specs, log_dir, env):
    """Starts and builds the workers one at a time (memory, CPU)."""
    workers = []
    for spec in specs:
        w = Worker(spec, log_dir, env)
        info = w.guard(w.read)
        if info is not None:
            w.info = dict(info, startup_s=time.perf_counter() - w.t0)
            print(f"  {w.name}: ready in {w.info['startup_s']:.1f}s",
                  flush=True)
        workers.append(w)
    return workers


def warm_up(workers, n):
    for w in [w for w in workers if not w.dead]:
        r = w.guard(w.cmd, f"warm {n}")
        if r is None:
            continue
        w.warm = r["times"]
        w.rss_warm = w.guard(w.cmd, "rss")
        w.guard(w.cmd, "reset_peak")
        print(f"  {w.name}: warm {['%.2f' % t for t in w.warm]}",
              flush=True)


def measure(w, steps, settle, quiet_wait, retries):
    """K timed steps of one worker; retried under foreign load."""
    for _ in range(retries + 1):
        time.sleep(settle)
        if quiet_wait > 0:
            w.waited_s += wait_quiet(quiet_wait)
        b0, c0, t0 = sys_busy(), proc_cpu(w.p.pid), time.perf_counter()
        res = w.cmd(f"run {steps}")
        b1, c1, t1 = sys_busy(), proc_cpu(w.p.pid), time.perf_counter()
        other = max(0, (b1 - b0) - (c1 - c0)) / CLK
        foreign = other / ((t1 - t0) * NCPU)
        w.attempts.append((foreign, res["times"]))
        if foreign < FOREIGN_MAX:
            break
    w.foreign.append(foreign)
    w.times += res["times"]
    w.losses += res["losses"]
    w.rounds.append(statistics.median(res["times"]))


def run_rounds(workers, rounds, steps, settle=0.3, quiet_wait=20.0, retries=2):
    """Interleaved rounds; every worker gets one entry per round."""
    live = [w for w in workers if not w.dead]
    for r in range(rounds):
        order = live[r % len(live):] + live[:r % len(live)]
        if r % 2:
            order = order[::-1]
        for w in order:
            if not w.dead:
                w.guard(measure, w, steps, settle, quiet_wait, retries)
        loads = ['%.2f' % w.foreign[-1] for w in live if w.foreign]
        print(f"  round {r + 1}/{rounds} done; foreign load {loads}",
              flush=True)
    for w in live:
        if not w.dead:
            w.rss_end = w.guard(w.cmd, "rss")
    for w in workers:
        w.close()
    return workers


def robust_median(w):
    """Median step time over clean rounds (>= 3 of them), else all steps."""
    clean = [r for r, f in zip(w.rounds, w.foreign) if f < FOREIGN_MAX]
    if len(clean) >= 3:
        return statistics.median(clean)
    return statistics.median(w.times)


def paired_ratios(ref, w):
    """Per-round ref/w step-time ratios (= w/ref throughput when both run the
    same tokens per step), from rounds where neither saw other processes
    (all rounds when fewer than 3 are clean)."""
    both = [(a, b) for a, b, fa, fb in zip(ref.rounds, w.rounds, ref.foreign,
                                           w.foreign)
            if fa < FOREIGN_MAX and fb < FOREIGN_MAX]
    if len(both) < 3:
        both = list(zip(ref.rounds, w.rounds))
    return [a / b for a, b in both]
