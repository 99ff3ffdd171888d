#!/usr/bin/env python3
"""End-to-end benchmark: binance-sim (open loop) -> binance-bridge -> Redis -> consumer.

One step per offered rate, each on a fresh simulator and bridge and an emptied Redis:
  1. the simulator runs at an aggregate action rate chosen (from a calibration step) to offer
     the target messages per second on the scenario's streams, with a 1 ms market clock, so
     every event carries the scheduled send time of its tick (event_time_ms);
  2. the bridge subscribes the streams through the control channel;
  3. bench/consumer (C, hiredis) reads every stream with XREAD BLOCK from the first entry and
     stamps arrival: latency = arrival - event_time_ms (scheduled send -> consumer read);
  4. after warm-up, a measuring window: simulator messages sent, bridge CPU (utime+stime from
     /proc), bridge RSS; then every simulator connection is stalled (the simulator counts what
     it sent, stalled data is never sent), the consumer drains, and loss = sent - data entries read;
  5. Redis memory per entry = (used_memory - empty used_memory) / entries.
Then redis-benchmark's pipelined XADD of an entry of the same size as the ceiling.

Bounded: every step has a deadline; only processes this script started are stopped, by PID;
loopback only. Results: bench/out/<timestamp>/results.json and a table on stdout.

  bench/run.sh                           # 10k, 50k, 100k msg/s, 20 s windows
  BENCH_RATES="10000 30000" BENCH_SECONDS=10 bench/run.sh
  BENCH_LONG_SECONDS=600 bench/run.sh    # also 10 minutes at 50k msg/s: RSS growth
"""
import json
import re
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BENCH_BIN", os.path.join(ROOT, ".build", "release"))
OUT = os.environ["BENCH_OUT"]
CONSUMER = os.path.join(OUT, "consumer")
RATES = [int(r) for r in os.environ.get("BENCH_RATES", "10000 50000 100000").split()]
WINDOW_S = float(os.environ.get("BENCH_SECONDS", "20"))
WARMUP_S = float(os.environ.get("BENCH_WARMUP_SECONDS", "4"))
PIN = os.environ.get("BENCH_TASKSET", "")  # e.g. "sim=0,bridge=1,redis=1,consumer=0"
TICK = ["--tick", os.environ.get("BENCH_TICK", "1ms")] if os.environ.get("BENCH_TICK", "1ms") else []  # the simulator's clock
HZ = os.sysconf("SC_CLK_TCK")
PREFIX = "bench"

# The scenario: a BTCUSDT-like mix on each USD-M symbol, the same streams for both systems
# (cryptofeed's funding channel is `@markPrice`, every 3 s).
SYMBOLS = os.environ.get("BENCH_SYMBOLS", "BTCUSDT,ETHUSDT,SOLUSDT").split(",")
KINDS = ["aggTrade", "bookTicker", "depth@100ms", "markPrice"]
STREAMS = [f"{s.lower()}@{k}" for s in SYMBOLS for k in KINDS]
SYSTEMS = os.environ.get("BENCH_SYSTEMS", "bridge cryptofeed").split()
CRYPTOFEED_RATES = [int(r) for r in os.environ.get("BENCH_CRYPTOFEED_RATES", "2000 10000 20000").split()]
VENV_PYTHON = os.path.join(ROOT, "bench", "out", "venv", "bin", "python")
CERT_DIR = os.path.join(ROOT, "Tests", "BinanceSimulatorTests", "Fixtures")


def cryptofeed_symbol(symbol):
    return f"{symbol[:-4]}-USDT-PERP" if symbol.endswith("USDT") else symbol


def keys_of(system):
    if system == "bridge":
        return [f"{PREFIX}:usdm:{s}" for s in STREAMS]
    channels = ["trades", "ticker", "book", "funding"]
    return [f"{c}-BINANCE_FUTURES-{cryptofeed_symbol(s)}" for s in SYMBOLS for c in channels]


started = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(role, argv, log):
    if PIN:
        cores = dict(item.split("=") for item in PIN.split(","))
        if role in cores:
            argv = ["taskset", "-c", cores[role]] + argv
    p = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    started.append(p)
    return p


def stop(p, sig=signal.SIGTERM, wait=15):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, check=True).stdout.strip()


def wait_for(what, predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise SystemExit(f"bench: timed out waiting for {what}")


def proc_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def proc_status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])  # kB
    return None


def http_json(port, path, method="GET"):
    out = subprocess.run(["curl", "-s", "-X", method, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=30).stdout
    return json.loads(out) if out.startswith("{") else out


def redis_memory(port):
    return int(cli(port, "info", "memory").split("used_memory:")[1].split()[0])


def start_sim(label, arguments):
    """binance-sim on free loopback ports with `arguments`; returns (process, ports)."""
    ports_file = os.path.join(OUT, f"ports-{label}.json")
    sim = spawn("sim", [os.path.join(BIN, "binance-sim"), "--host", "127.0.0.1", "--usdm-port", "0", "--coinm-port", "0",
                        "--admin-port", "0", "--ports-file", ports_file, *arguments], os.path.join(OUT, f"sim-{label}.log"))
    wait_for("the simulator's ports", lambda: os.path.exists(ports_file) and os.path.getsize(ports_file) > 0, 20)
    return sim, json.load(open(ports_file))


def wait_for_control_channel(redis_port):
    wait_for("the bridge's control channel", lambda: cli(redis_port, "pubsub", "numsub", f"{PREFIX}:control").split()[-1] != "0", 30)


def subscribe_bridge(redis_port):
    """The scenario's streams, subscribed through the bridge's control channel."""
    cli(redis_port, "publish", f"{PREFIX}:control", json.dumps({"op": "subscribe", "market": "usdm", "streams": STREAMS, "id": 1}))


def wait_for_entries(redis_port, db, keys):
    # markPrice and depth@100ms have an entry within 3 s of their subscription.
    wait_for("an entry in every stream", lambda: all(int(cli(redis_port, "-n", str(db), "exists", k)) for k in keys), 60)


def start_publisher(system, redis_port, db, ports, label, maxlen=100_000_000):
    """The system under test, connected to the simulator; returns its process."""
    log = os.path.join(OUT, f"{system}-{label}.log")
    if system == "bridge":
        return spawn("bridge", [os.path.join(BIN, "binance-bridge"), "run", "--redis-url", f"redis://127.0.0.1:{redis_port}/{db}",
                                "--redis-prefix", PREFIX, "--redis-maxlen", str(maxlen), "--log-level", "warning", "--http-port", "0",
                                "--usdm-ws-url", f"ws://127.0.0.1:{ports['usdm']}", "--usdm-rest-url", f"http://127.0.0.1:{ports['usdm']}",
                                "--coinm-ws-url", f"ws://127.0.0.1:{ports['coinm']}", "--coinm-rest-url", f"http://127.0.0.1:{ports['coinm']}"],
                     log)
    os.environ["SSL_CERT_FILE"] = os.environ["REQUESTS_CA_BUNDLE"] = os.path.join(CERT_DIR, "sim-cert.pem")
    return spawn("bridge", [VENV_PYTHON, os.path.join(ROOT, "bench", "cryptofeed_feed.py"), str(ports["usdm"]), str(redis_port), str(db), "wss",
                            *[cryptofeed_symbol(s) for s in SYMBOLS]], log)


def step(system, redis_port, action_rate, label, window_s=WINDOW_S, warmup_s=WARMUP_S):
    """One run of `system` at `action_rate` simulator actions/s; returns its measurements."""
    db = 0 if system == "bridge" else 1
    keys = keys_of(system)
    cli(redis_port, "flushall")
    empty_memory = redis_memory(redis_port)
    tls = ["--tls-cert", os.path.join(CERT_DIR, "sim-cert.pem"), "--tls-key", os.path.join(CERT_DIR, "sim-key.pem")] if system == "cryptofeed" else []
    sim, ports = start_sim(f"{system}-{label}", ["--aggregate-rate", str(action_rate), *TICK, "--symbols", ",".join(SYMBOLS), *tls])
    publisher = start_publisher(system, redis_port, db, ports, label)
    env = dict(os.environ)
    if system == "cryptofeed":
        env.update(CONSUMER_EVENT_FIELD="timestamp", CONSUMER_EVENT_UNIT="s", CONSUMER_RECV_FIELD="receipt_timestamp",
                   CONSUMER_RECV_UNIT="s", CONSUMER_NOT_DATA_FIELD="book")
    consumer = None
    try:
        subscribe_started = time.time()
        if system == "bridge":
            wait_for_control_channel(redis_port)
            subscribe_started = time.time()
            subscribe_bridge(redis_port)
        wait_for_entries(redis_port, db, keys)
        subscribed_s = time.time() - subscribe_started
        from_ms = int((time.time() + warmup_s) * 1000)
        consumer = subprocess.Popen([CONSUMER, "127.0.0.1", str(redis_port), str(db), str(warmup_s + window_s), "1500", str(from_ms), *keys],
                                    stdout=subprocess.PIPE, text=True, env=env)
        started.append(consumer)
        time.sleep(max(0, from_ms / 1000 - time.time()))
        sent0, ticks0, t0 = http_json(ports["admin"], "/status")["messages_sent"], proc_ticks(publisher.pid), time.time()
        time.sleep(window_s)
        sent1, ticks1, t1 = http_json(ports["admin"], "/status")["messages_sent"], proc_ticks(publisher.pid), time.time()
        rss_kb, hwm_kb = proc_status(publisher.pid, "VmRSS"), proc_status(publisher.pid, "VmHWM")
        http_json(ports["admin"], "/faults/stall-connection", "POST")
        sent_total = http_json(ports["admin"], "/status")["messages_sent"]
        out, _ = consumer.communicate(timeout=warmup_s + window_s + 120)
        read = json.loads(out)
        entries = sum(int(cli(redis_port, "-n", str(db), "xlen", k)) for k in keys)
        memory = redis_memory(redis_port)
        if system == "bridge":
            keep_sample_entry(redis_port)
    finally:
        if consumer is not None:
            stop(consumer, signal.SIGKILL, 5)
        stop(publisher)
        stop(sim)
    window_msgs = sent1 - sent0
    cpu_us = (ticks1 - ticks0) / HZ * 1e6
    lost = sent_total - read["data_entries"]
    return {
        "system": system,
        "action_rate": action_rate,
        "offered_msgs_per_s": round(window_msgs / (t1 - t0)),
        "sent_total": sent_total,
        "read_data_entries": read["data_entries"],
        "marker_entries": read["marker_entries"],
        "lost": lost,
        "drained": read["drained"],
        "loss_pct": round(100 * lost / max(1, sent_total), 4),
        "latency_us": read["latency_us"],
        "cpu_us_per_msg": round(cpu_us / max(1, window_msgs), 2),
        "cpu_cores": round(cpu_us / 1e6 / (t1 - t0), 3),
        "rss_mib": round(rss_kb / 1024, 1),
        "hwm_mib": round(hwm_kb / 1024, 1),
        "redis_bytes_per_entry": round((memory - empty_memory) / max(1, entries)),
        "subscribe_to_all_streams_s": round(subscribed_s, 2),
    }


def many_streams_step(redis_port, symbols=800, seconds=20):
    """4,000 streams (5 per synthetic symbol) on the bridge's 20 connections: the time until
    Binance has confirmed all of them, with its 10-messages-per-second rule enforced by the
    simulator, then RSS and CPU under their data."""
    cli(redis_port, "flushall")
    kinds = ["aggTrade", "bookTicker", "depth@100ms", "markPrice@1s", "kline_1m"]
    names = [f"x{i:04d}usdt@{k}" for i in range(symbols) for k in kinds]
    sim, ports = start_sim("many", ["--symbols", "BTCUSDT", "--synthetic-symbols", str(symbols), "--aggregate-rate", "10000"])
    bridge = start_publisher("bridge", redis_port, 0, ports, "many")
    try:
        wait_for_control_channel(redis_port)
        rss_before = proc_status(bridge.pid, "VmRSS")
        started_at = time.time()
        for i in range(0, len(names), 1000):
            cli(redis_port, "publish", f"{PREFIX}:control", json.dumps({"op": "subscribe", "market": "usdm", "streams": names[i:i + 1000],
                                                                         "id": i, "reply_to": "bench:replies"}))
        replies = [json.loads(cli(redis_port, "blpop", "bench:replies", "10").splitlines()[-1]) for _ in range(0, len(names), 1000)]
        accepted_s = time.time() - started_at
        confirmed, polls = 0, 0
        while time.time() - started_at < 60:
            cli(redis_port, "publish", f"{PREFIX}:control", json.dumps({"op": "list", "market": "usdm", "reply_to": "bench:list"}))
            listing = json.loads(cli(redis_port, "blpop", "bench:list", "10").splitlines()[-1])
            polls += 1
            confirmed = sum(1 for s in listing["result"]["streams"] if s.get("state") == "confirmed")
            if confirmed == len(names):
                break
            time.sleep(0.1)
        confirmed_s = time.time() - started_at
        status0 = http_json(ports["admin"], "/status")
        ticks0, t0 = proc_ticks(bridge.pid), time.time()
        time.sleep(seconds)
        status1 = http_json(ports["admin"], "/status")
        ticks1, t1 = proc_ticks(bridge.pid), time.time()
        rss, hwm = proc_status(bridge.pid, "VmRSS"), proc_status(bridge.pid, "VmHWM")
    finally:
        stop(bridge)
        stop(sim)
    msgs = status1["messages_sent"] - status0["messages_sent"]
    return {
        "streams": len(names), "commands_ok": all(r.get("ok") for r in replies), "accepted_s": round(accepted_s, 2),
        "confirmed": confirmed, "all_confirmed_s": round(confirmed_s, 2), "list_polls": polls,
        "connections": len(status1["connections"]),
        # Connection ids count up from 1: the highest equal to the count means none was ever
        # replaced (no close for breaking the message-rate rule, no reconnect).
        "connections_opened": max((c["id"] for c in status1["connections"]), default=0),
        "msgs_per_s": round(msgs / (t1 - t0)), "cpu_us_per_msg": round((ticks1 - ticks0) / HZ * 1e6 / max(1, msgs), 2),
        "rss_mib_before_subscribing": round(rss_before / 1024, 1), "rss_mib": round(rss / 1024, 1), "hwm_mib": round(hwm / 1024, 1),
    }


def long_step(redis_port, action_rate, seconds):
    """The bridge alone for `seconds` at `action_rate` (the 50k msg/s step's), streams trimmed
    at MAXLEN ~ 10,000 so Redis stays small: RSS sampled every 10 s, growth measured from the
    first minute's end (start-up and first allocations done) to the end; entries Redis
    accepted (XINFO STREAM entries-added, markers included) against what the simulator sent."""
    cli(redis_port, "flushall")
    sim, ports = start_sim("long", ["--aggregate-rate", str(action_rate), *TICK, "--symbols", ",".join(SYMBOLS)])
    bridge = start_publisher("bridge", redis_port, 0, ports, "long", maxlen=10_000)
    samples = []
    try:
        wait_for_control_channel(redis_port)
        subscribe_bridge(redis_port)
        keys = keys_of("bridge")
        wait_for_entries(redis_port, 0, keys)
        sent0, ticks0, t0 = http_json(ports["admin"], "/status")["messages_sent"], proc_ticks(bridge.pid), time.time()
        while time.time() - t0 < seconds:
            time.sleep(10)
            samples.append((round(time.time() - t0), round(proc_status(bridge.pid, "VmRSS") / 1024, 1)))
        sent1, ticks1, t1 = http_json(ports["admin"], "/status")["messages_sent"], proc_ticks(bridge.pid), time.time()
        http_json(ports["admin"], "/faults/stall-connection", "POST")
        sent_total = http_json(ports["admin"], "/status")["messages_sent"]
        time.sleep(5)  # the bridge writes what it holds
        added = 0
        for k in keys:
            info = cli(redis_port, "xinfo", "stream", k).splitlines()
            added += int(info[info.index("entries-added") + 1])
    finally:
        stop(bridge)
        stop(sim)
    after_first_minute = next((rss for t, rss in samples if t >= 60), samples[0][1])
    return {
        "seconds": round(t1 - t0), "offered_msgs_per_s": round((sent1 - sent0) / (t1 - t0)),
        "cpu_us_per_msg": round((ticks1 - ticks0) / HZ * 1e6 / max(1, sent1 - sent0), 2),
        "sent_total": sent_total, "entries_added_with_markers": added,
        "rss_mib_samples": samples, "rss_mib_after_first_minute": after_first_minute, "rss_mib_end": samples[-1][1],
        "rss_mib_max": max(rss for _, rss in samples),
        "rss_growth_pct": round(100 * (samples[-1][1] - after_first_minute) / after_first_minute, 2),
    }


SAMPLE = []


def keep_sample_entry(redis_port):
    """Field/value pairs of a real agg_trade entry, for redis-benchmark's XADD."""
    start = "-"
    while not SAMPLE:  # the stream opens with its `status` marker: skip to the first trade
        rows = cli(redis_port, "xrange", f"{PREFIX}:usdm:{SYMBOLS[0].lower()}@aggTrade", start, "+", "count", "1").splitlines()
        if not rows:
            raise SystemExit("bench: no agg_trade entry to size redis-benchmark's XADD")
        fields = dict(zip(rows[1::2], rows[2::2]))
        if fields.get("type") == "agg_trade":
            SAMPLE.extend(rows[1:])
        start = "(" + rows[0]


def redis_benchmark_ceiling(redis_port, fields):
    results = {}
    for depth in (16, 64):
        cli(redis_port, "del", "rb:xadd")
        n = 2_000_000
        out = subprocess.run(["redis-benchmark", "-p", str(redis_port), "-n", str(n), "-P", str(depth), "-q",
                              "XADD", "rb:xadd", "MAXLEN", "~", "100000", "*", *fields],
                             capture_output=True, text=True, timeout=300).stdout
        # "XADD rb:xadd ...: 458015.09 requests per second, p50=..."
        rate = float(re.findall(r"([0-9.]+) requests per second", out)[-1])
        results[f"P{depth}"] = round(rate)
    cli(redis_port, "del", "rb:xadd")
    return results


def main():
    redis_port = free_port()
    redis = spawn("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                  os.path.join(OUT, "redis.log"))
    try:
        wait_for("redis", lambda: subprocess.run(["redis-cli", "-p", str(redis_port), "ping"], capture_output=True).returncode == 0, 20)
        # Calibration: messages per simulator action on these streams.
        calibration = step("bridge", redis_port, 10000, "calibration", window_s=5, warmup_s=2)
        per_action = calibration["offered_msgs_per_s"] / 10000
        print(f"calibration: {per_action:.3f} messages per action", file=sys.stderr)
        steps = []
        # Side by side: at each rate, one system then the other, so drift hits both alike.
        plan = sorted({(rate, system) for system in SYSTEMS for rate in (RATES if system == "bridge" else CRYPTOFEED_RATES)})
        for rate, system in plan:
            try:
                result = step(system, redis_port, round(rate / per_action), f"{rate}")
            except (subprocess.TimeoutExpired, json.JSONDecodeError, SystemExit) as error:
                # Past what this machine carries (e.g. the simulator's admin port stops
                # answering): recorded as out of reach, not a crash of the whole run.
                print(f"{system:>10} {rate:>7} msg/s: did not complete: {error}", file=sys.stderr)
                steps.append({"system": system, "target_msgs_per_s": rate, "error": str(error)})
                continue
            result["target_msgs_per_s"] = rate
            steps.append(result)
            lat = result["latency_us"]["scheduled_to_consumer"]
            print(f"{system:>10} {rate:>7} msg/s: offered {result['offered_msgs_per_s']}, lost {result['lost']}, p50 {lat['p50']} "
                  f"p99 {lat['p99']} p99.9 {lat['p999']} µs, {result['cpu_us_per_msg']} µs CPU/msg, RSS {result['rss_mib']} MiB",
                  file=sys.stderr)
        many = many_streams_step(redis_port) if os.environ.get("BENCH_MANY_STREAMS", "1") == "1" else None
        long_seconds = float(os.environ.get("BENCH_LONG_SECONDS", "0"))
        long = long_step(redis_port, round(50_000 / per_action), long_seconds) if long_seconds > 0 else None
        if long:
            print(f"{long['seconds']} s at {long['offered_msgs_per_s']} msg/s: RSS {long['rss_mib_after_first_minute']} MiB after the first "
                  f"minute, {long['rss_mib_end']} at the end ({long['rss_growth_pct']} %), max {long['rss_mib_max']}; "
                  f"sent {long['sent_total']}, Redis accepted {long['entries_added_with_markers']} (markers included)", file=sys.stderr)
        if many:
            print(f"4,000 streams: all confirmed in {many['all_confirmed_s']} s on {many['connections']} connections, "
                  f"RSS {many['rss_mib']} MiB", file=sys.stderr)
        fields = SAMPLE
        ceiling = redis_benchmark_ceiling(redis_port, fields)
    finally:
        stop(redis)
        for p in started:
            stop(p, signal.SIGKILL, 5)
    report = {"machine": {"nproc": os.cpu_count(), "uname": os.uname().release}, "taskset": PIN or None,
              "window_s": WINDOW_S, "warmup_s": WARMUP_S, "streams": STREAMS, "calibration": calibration, "steps": steps, "many_streams": many, "long_run": long,
              "redis_benchmark_xadd_per_s": ceiling, "xadd_entry_fields": len(fields) // 2,
              "xadd_entry_bytes": sum(len(f) for f in fields)}
    json.dump(report, open(os.path.join(OUT, "results.json"), "w"), indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
