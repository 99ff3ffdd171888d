# Shared helpers for scripts/*.sh. Source it; do not run it.
# Everything here stays on loopback and ends only the processes it started, by PID.

# Installs the system packages the project needs when any is missing (Debian/Ubuntu).
ensure_system_packages() {
    local missing=()
    # curl: the simulator's TLS test fetches https:// REST with it.
    for pkg in libhiredis-dev libssl-dev redis-server pkg-config curl; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then return 0; fi
    echo "==> installing system packages: ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
}

# The schema test validates real output with Python's jsonschema (PyPI); install it when
# missing (python3 and pip come with the machine; Debian's PEP 668 marker needs the flag).
ensure_python_jsonschema() {
    if python3 -c 'import jsonschema' >/dev/null 2>&1; then return 0; fi
    echo "==> installing python3 jsonschema"
    python3 -m pip install --quiet jsonschema 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages jsonschema
}

# redis-py (PyPI), for the Python examples in examples/python, which the tests run.
ensure_python_redis() {
    if python3 -c 'import redis' >/dev/null 2>&1; then return 0; fi
    echo "==> installing python3 redis (redis-py)"
    python3 -m pip install --quiet redis 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages redis
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        local port
        for _ in $(seq 1 50); do
            port=$(( (RANDOM % 20000) + 30000 ))
            if ! (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
        done
        return 1
    fi
}

# Starts a throwaway redis-server on a free loopback port, persistence off.
# Sets REDIS_PORT, REDIS_PID, REDIS_DIR, REDIS_URL. Waits for PING (bounded: 10 s).
start_throwaway_redis() {
    REDIS_PORT=$(free_port)
    REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bridge-redis.XXXXXX")
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$REDIS_DIR" --logfile "$REDIS_DIR/redis.log" --daemonize no &
    REDIS_PID=$!
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    for _ in $(seq 1 100); do
        if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
            echo "==> redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT"
            return 0
        fi
        if ! kill -0 "$REDIS_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "redis-server did not answer PING on port $REDIS_PORT" >&2
    cat "$REDIS_DIR/redis.log" >&2 || true
    return 1
}

# Stops the redis-server started above (by PID) and removes its directory.
# With "show-log", prints its log first (used when tests failed).
stop_throwaway_redis() {
    if [ -n "${REDIS_PID:-}" ] && kill -0 "$REDIS_PID" 2>/dev/null; then
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
    fi
    if [ "${1:-}" = "show-log" ] && [ -f "${REDIS_DIR:-}/redis.log" ]; then
        echo "==> redis-server log"
        cat "$REDIS_DIR/redis.log"
    fi
    if [ -n "${REDIS_DIR:-}" ]; then rm -rf "$REDIS_DIR"; fi
    REDIS_PID=""
}
