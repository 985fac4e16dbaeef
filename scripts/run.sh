#!/usr/bin/env bash
# Start fanzha on its embedded defaults: action server + Rasa server on loopback,
# SQLite tracker store under data/. Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

RASA_PORT="${FANZHA_RASA_PORT:-5005}"
ACTIONS_PORT="${FANZHA_ACTIONS_PORT:-5055}"
NLU_PORT="${FANZHA_NLU_PORT:-5006}"
HOST="${FANZHA_HOST:-127.0.0.1}"
ENDPOINTS="${FANZHA_ENDPOINTS:-endpoints.yml}"
MODEL="${FANZHA_MODEL:-models/fanzha.tar.gz}"
mkdir -p data
chmod 700 data
if [ ! -f "$MODEL" ]; then
    echo "No trained model at $MODEL: run 'make run' (it trains) or 'make train'." >&2
    exit 1
fi

# The HTTP API needs a token; keep one per installation, readable by the owner only.
if [ -z "${FANZHA_API_TOKEN:-}" ]; then
    if [ ! -s data/api_token ]; then
        (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' > data/api_token)
    fi
    FANZHA_API_TOKEN="$(cat data/api_token)"
fi

# Browsers may call the server only from its own pages and FANZHA_WIDGET_ORIGINS (bot/origins.py).
origins="$(.venv/bin/python -m bot.origins)" || exit 2
cors=()
if [ -n "$origins" ]; then
    mapfile -t widget_origins <<<"$origins"
    cors=(--cors "${widget_origins[@]}")
fi

# Log level of both servers: warning (default) or info. Not debug: Rasa's debug log writes
# out what residents type (phone numbers, names) and every slot of the conversation.
case "${FANZHA_LOG_LEVEL:-warning}" in
    warning) log_level=--quiet ;;
    info) log_level=--verbose ;;
    *)
        echo "FANZHA_LOG_LEVEL must be warning or info (debug would write residents' messages to the log)" >&2
        exit 2
        ;;
esac

# A second server with the same model that only understands messages, on another core
# (bot/nlu_offload.py): on by default where there are two cores or more.
case "${FANZHA_NLU_PROCESS:-auto}" in
    auto) if [ "$(nproc)" -ge 2 ]; then nlu_process=1; else nlu_process=""; fi ;;
    on) nlu_process=1 ;;
    off) nlu_process="" ;;
    *)
        echo "FANZHA_NLU_PROCESS must be auto, on or off" >&2
        exit 2
        ;;
esac
nlu_url=""
if [ -n "$nlu_process" ]; then
    # The Rasa server sends residents' messages there: it must be ours, not whatever else listens.
    if (exec 3<>"/dev/tcp/127.0.0.1/$NLU_PORT") 2>/dev/null; then
        echo "Port $NLU_PORT (FANZHA_NLU_PORT) is in use: choose another, or set FANZHA_NLU_PROCESS=off" >&2
        exit 2
    fi
    nlu_url="http://127.0.0.1:$NLU_PORT"
fi

pids=()
stop() {
    trap - INT TERM EXIT
    echo
    echo "Stopping fanzha …"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

SANIC_HOST="$HOST" .venv/bin/rasa run actions --actions actions -p "$ACTIONS_PORT" "$log_level" &
pids+=($!)
# Rasa's server, without the parts of TensorFlow it never uses (bot/rasa_server.py).
# The API token reaches it through the environment (bot/rasa_server.py), never the command
# line, which every local user can read in /proc.
FANZHA_NLU_URL="$nlu_url" FANZHA_API_TOKEN="$FANZHA_API_TOKEN" .venv/bin/python -m bot.rasa_server run -m "$MODEL" -i "$HOST" -p "$RASA_PORT" \
    --enable-api \
    --credentials credentials.yml --endpoints "$ENDPOINTS" "${cors[@]}" "$log_level" &
pids+=($!)

# Meanwhile, the settings Rasa would retry for ever or fail on with a traceback (bot/preflight.py).
.venv/bin/python -m bot.preflight --model "$MODEL" --endpoints "$ENDPOINTS" --credentials credentials.yml &
preflight=$!
preflight_ok=""

echo "Starting fanzha (first start loads the model: about 20 s) …"
# Up to 300 s: a busy 2-core machine can take minutes to load TensorFlow and the model.
for _ in $(seq 1 600); do
    if [ -z "$preflight_ok" ] && ! kill -0 "$preflight" 2>/dev/null; then
        if wait "$preflight"; then preflight_ok=1; else exit 1; fi
    fi
    # curl reads the URL with the token from its standard input, not its command line.
    if [ -n "$preflight_ok" ] && printf 'url = "http://%s:%s/status?token=%s"\n' "$HOST" "$RASA_PORT" "$FANZHA_API_TOKEN" |
        curl -fsS -K - >/dev/null 2>&1 &&
        curl -fsS "http://$HOST:$ACTIONS_PORT/health" >/dev/null 2>&1; then
        cat <<MSG

fanzha is ready.
  Chat (REST):     curl -s http://$HOST:$RASA_PORT/webhooks/rest/webhook -d '{"sender":"me","message":"我被骗了怎么办"}'
  Web chat:        http://$HOST:$RASA_PORT/chat  (open in a browser)
  Outreach demo:   http://$HOST:$RASA_PORT/demo  (projector view, quiz, printable handouts)
  Agent console:   http://$HOST:$RASA_PORT/console  (add an agent: .venv/bin/fanzha agent add NAME)
  Embed on a site: <script src="http://$HOST:$RASA_PORT/widget.js" data-fanzha-server="http://$HOST:$RASA_PORT"></script>
  HTTP API token:  data/api_token
Press Ctrl-C to stop.
MSG
        running=("${pids[@]}")
        if [ -n "$nlu_process" ]; then
            # Started once the assistant answers, so that it does not slow the start; until it is
            # up, and whenever it is not, the Rasa server understands messages itself.
            FANZHA_NLU_URL= FANZHA_API_TOKEN="$FANZHA_API_TOKEN" .venv/bin/python -m bot.rasa_server run -m "$MODEL" \
                -i 127.0.0.1 -p "$NLU_PORT" --enable-api --credentials /dev/null --endpoints /dev/null \
                "$log_level" &
            pids+=($!)
        fi
        wait -n "${running[@]}"
        exit 1
    fi
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || { echo "A fanzha process stopped during start-up; see the messages above." >&2; exit 1; }
    done
    sleep 0.5
done
echo "fanzha did not become ready within 300 s." >&2
exit 1
