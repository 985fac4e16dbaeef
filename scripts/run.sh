#!/usr/bin/env bash
# Start fanzha on its embedded defaults: action server + Rasa server on loopback,
# SQLite tracker store under var/db/. Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

RASA_PORT="${FANZHA_RASA_PORT:-5005}"
ACTIONS_PORT="${FANZHA_ACTIONS_PORT:-5055}"
HOST="${FANZHA_HOST:-127.0.0.1}"
ENDPOINTS="${FANZHA_ENDPOINTS:-endpoints.yml}"
MODEL="${FANZHA_MODEL:-models/fanzha.tar.gz}"
# Runtime state in var/ (bot/services/runtime_state.py): what an older version kept in data/ and keys/
# moves there first; a file already at its new place stops the start with both paths.
.venv/bin/python -m bot.services.runtime_state || exit 1
if [ ! -f "$MODEL" ]; then
    echo "No trained model at $MODEL: run 'make run' (it trains) or 'make train'." >&2
    exit 1
fi

# The HTTP API needs a token; keep one per installation, readable by the owner only.
if [ -z "${FANZHA_API_TOKEN:-}" ]; then
    if [ ! -s var/keys/api_token ]; then
        (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' > var/keys/api_token)
    fi
    FANZHA_API_TOKEN="$(cat var/keys/api_token)"
fi
# The action server runs only calls that show this secret (actions/caller_check.py); one per
# installation too. Both servers get it through the environment, never the command line.
if [ -z "${FANZHA_ACTION_TOKEN:-}" ]; then
    if [ ! -s var/keys/action_token ]; then
        (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' > var/keys/action_token)
    fi
    FANZHA_ACTION_TOKEN="$(cat var/keys/action_token)"
fi

# Browsers may call the server only from its own pages and FANZHA_WIDGET_ORIGINS, which the
# server reads itself (bot/rasa_patches/origins.py); a malformed setting stops here, before anything starts.
.venv/bin/python -m bot.rasa_patches.origins >/dev/null || exit 2

# Outbound warning calls (bot/services/early_warnings/dispatch.py) only once Twilio and FANZHA_PUBLIC_URL
# are set; then a malformed setting stops here too. Nothing set: no dispatcher, as before.
warning_calls=""
if .venv/bin/python -m bot.cli.main warnings dispatch --check; then warning_calls=1; elif [ $? -ne 1 ]; then exit 2; fi

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
# (bot/cli/nlu_server.py, bot/rasa_patches/nlu_offload.py): on by default where there are two cores or more.
case "${FANZHA_NLU_PROCESS:-auto}" in
    auto) if [ "$(nproc)" -ge 2 ]; then nlu_process=1; else nlu_process=""; fi ;;
    on) nlu_process=1 ;;
    off) nlu_process="" ;;
    *)
        echo "FANZHA_NLU_PROCESS must be auto, on or off" >&2
        exit 2
        ;;
esac
pids=()
stop() {
    trap - INT TERM EXIT
    echo
    echo "Stopping fanzha …"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$nlu_dir" ]; then rm -rf "$nlu_dir"; fi
}
nlu_dir=""
trap stop INT TERM EXIT

nlu_url=""
if [ -n "$nlu_process" ]; then
    # The Rasa server sends residents' messages there and obeys the answers: a Unix socket in a
    # folder only we can open (mktemp makes it 700), new at each start, so no other local
    # program can listen in its place, as it could on a TCP port.
    nlu_dir="$(mktemp -d -t fanzha-nlu.XXXXXXXXXX)"
    nlu_url="unix:$nlu_dir/nlu.sock"
fi

# Runs the understanding server, and again whenever it dies (killed, out of memory), waiting
# longer after each quick death; not after a clean stop (exit 0) or a bad setting (exit 2).
supervise_understanding_server() {
    local child="" status delay=1 started
    # Ctrl-C reaches the whole process group: this loop ignores it (so do its children until
    # they serve) and stops on the run command's TERM, once its child has stopped.
    trap '' INT
    trap '[ -z "$child" ] || { kill "$child" 2>/dev/null; wait "$child"; }; exit 0' TERM
    while :; do
        started=$SECONDS
        .venv/bin/python -m bot.cli.nlu_server --model "$MODEL" --socket "$nlu_dir/nlu.sock" "$log_level" &
        child=$!
        status=0
        wait "$child" || status=$?
        if [ "$status" -eq 0 ] || [ "$status" -eq 2 ]; then exit 0; fi
        if [ $((SECONDS - started)) -gt 300 ]; then delay=1; else delay=$((delay * 2 > 300 ? 300 : delay * 2)); fi
        echo "The understanding server stopped (exit status $status); starting it again in $delay s." >&2
        sleep "$delay" &
        child=$!
        wait "$child" || true
    done
}

FANZHA_ACTION_TOKEN="$FANZHA_ACTION_TOKEN" SANIC_HOST="$HOST" .venv/bin/rasa run actions --actions actions -p "$ACTIONS_PORT" "$log_level" &
pids+=($!)
# Rasa's server, without the parts of TensorFlow it never uses (bot/cli/rasa_server.py).
# The API token reaches it through the environment (bot/cli/rasa_server.py), never the command
# line, which every local user can read in /proc.
FANZHA_NLU_URL="$nlu_url" FANZHA_API_TOKEN="$FANZHA_API_TOKEN" FANZHA_ACTION_TOKEN="$FANZHA_ACTION_TOKEN" .venv/bin/python -m bot.cli.rasa_server run -m "$MODEL" -i "$HOST" -p "$RASA_PORT" \
    --enable-api \
    --credentials credentials.yml --endpoints "$ENDPOINTS" "$log_level" &
pids+=($!)

# Meanwhile, the settings Rasa would retry for ever or fail on with a traceback (bot/cli/preflight.py).
.venv/bin/python -m bot.cli.preflight --model "$MODEL" --endpoints "$ENDPOINTS" --credentials credentials.yml &
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
  HTTP API token:  var/keys/api_token
Press Ctrl-C to stop.
MSG
        running=("${pids[@]}")
        if [ -n "$nlu_process" ]; then
            # Started once the assistant answers, so that it does not slow the start; until it is
            # up, and whenever it is not, the Rasa server understands messages itself.
            supervise_understanding_server &
            pids+=($!)
        fi
        if [ -n "$warning_calls" ]; then
            # Once the voice channel answers Twilio's webhooks; one per replica is fine (leases).
            .venv/bin/python -m bot.cli.main warnings dispatch &
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
