# shellcheck shell=bash
# Shared by up.sh, down.sh and service.sh: paths, process control, health checks, service table.
# Every process of the local cloud runs in its own session (setsid); its pid file holds the session
# leader's pid, start time and the kernel's boot id, so stale pid files (after a reboot, or a pid reused
# by another process) are ignored. (Not the environment or command line: uwsgi and neutron's
# setproctitle overwrite both in /proc.)

OS_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$OS_SCRIPTS/../.." && pwd)"
OS_DIR="$REPO_ROOT/.openstack"
ETC="$OS_DIR/etc"
LOGS="$OS_DIR/log"
RUN="$OS_DIR/run"
STATE="$OS_DIR/state"
PY=/usr/bin/python3 # Debian's python: the one with the OpenStack modules (a pyenv shim may come first on PATH)
COMPUTES="${OPENSTACK_COMPUTES:-4}"
T0=${T0:-$SECONDS}

KEYSTONE_URL=http://127.0.0.1:5000
PLACEMENT_URL=http://127.0.0.1:8778
GLANCE_URL=http://127.0.0.1:9292
NEUTRON_URL=http://127.0.0.1:9696
NOVA_URL=http://127.0.0.1:8774
NOVA_MV=2.53 # compute microversion used by the scripts (>= 2.37 for "networks":"none", 2.53 for service ids)

log() { printf '[%4ds] %s\n' "$((SECONDS - T0))" "$*"; }
die() {
	printf 'openstack: ERROR: %s\n' "$*" >&2
	exit 1
}

# die_log NAME MESSAGE: fail with the tail of NAME's log.
die_log() {
	local f="$LOGS/$1.log"
	printf 'openstack: ERROR: %s\n' "$2" >&2
	if [[ -f $f ]]; then
		printf -- '--- last lines of %s ---\n' "$f" >&2
		tail -n 40 "$f" >&2
		printf -- '---\n' >&2
	fi
	exit 1
}

# The services, in start order. nova-compute-N are appended for N = 1..COMPUTES.
service_names() {
	local n
	printf '%s\n' mariadb rabbitmq keystone placement glance neutron nova-api nova-conductor nova-scheduler
	for ((n = 1; n <= COMPUTES; n++)); do printf 'nova-compute-%d\n' "$n"; done
}

# all_pid_names: the services that have a pid file (running or stale).
all_pid_names() {
	local f
	for f in "$RUN"/*.pid; do
		[[ -e $f ]] && basename "$f" .pid
	done
	return 0
}

valid_service() {
	case $1 in
	mariadb | rabbitmq | keystone | placement | glance | neutron | nova-api | nova-conductor | nova-scheduler) return 0 ;;
	nova-compute-[1-9] | nova-compute-[1-9][0-9]) return 0 ;;
	*) return 1 ;;
	esac
}

# proc_start PID: the process's start time (clock ticks since boot), empty when it is gone or a zombie.
proc_start() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	# shellcheck disable=SC2086
	set -- $st
	[[ $1 != Z && $1 != X ]] || return 1
	echo "${20}"
}
boot_id() { cat /proc/sys/kernel/random/boot_id; }

# pid_of NAME: prints the pid when NAME is running (pid file of this boot, same live process).
pid_of() {
	local f="$RUN/$1.pid" pid st boot
	[[ -s $f ]] || return 1
	read -r pid st boot <"$f" || true
	[[ $pid =~ ^[0-9]+$ && -n $st && $boot == "$(boot_id)" ]] || return 1
	[[ $(proc_start "$pid") == "$st" ]] || return 1
	echo "$pid"
}
is_running() { pid_of "$1" >/dev/null; }

# session_alive SID: any non-zombie process left in that session.
session_alive() {
	ps -o stat= --sid "$1" 2>/dev/null | grep -qv '^Z'
}

# start_proc NAME CMD...: start CMD in a new session, output appended to log/NAME.log.
start_proc() {
	local name=$1 i pid
	shift
	mkdir -p "$LOGS" "$RUN"
	stop_many 10 "$name" # leftovers of a leader that died
	printf '\n===== %s start %s\n' "$(date -u +%FT%TZ)" "$name" >>"$LOGS/$name.log"
	setsid bash -c 'echo $$ >"$0" && exec "$@"' "$RUN/$name.pid.new" "$@" \
		</dev/null >>"$LOGS/$name.log" 2>&1 9>&- &
	for ((i = 0; i < 200; i++)); do
		[[ -s $RUN/$name.pid.new ]] && break
		sleep 0.05
	done
	pid=$(cat "$RUN/$name.pid.new" 2>/dev/null) || die_log "$name" "$name did not start"
	rm -f "$RUN/$name.pid.new"
	echo "$pid $(proc_start "$pid") $(boot_id)" >"$RUN/$name.pid"
	date +%s >"$RUN/$name.started"
}

# session_of NAME: the session id of NAME's processes: its live leader, or a leader that died leaving
# processes behind (e.g. the Erlang VM after its wrapper script was killed). A session id cannot be
# reused while processes of that session exist, so a dead leader's id still names only ours.
session_of() {
	local f="$RUN/$1.pid" pid st boot
	pid_of "$1" && return 0
	[[ -s $f ]] || return 1
	read -r pid st boot <"$f" || true
	[[ $pid =~ ^[0-9]+$ && $boot == "$(boot_id)" ]] || return 1
	[[ -z $(proc_start "$pid") ]] || return 1 # the pid now belongs to another process
	session_alive "$pid" || return 1
	echo "$pid"
}

# signal_session SIGNAL SID: every process of the session (and its process group).
signal_session() {
	local p
	kill "-$1" -- "-$2" 2>/dev/null || true
	for p in $(ps -o pid= --sid "$2" 2>/dev/null); do kill "-$1" "$p" 2>/dev/null || true; done
}

# stop_many TIMEOUT NAME...: SIGTERM to each service's session, SIGKILL after TIMEOUT seconds.
stop_many() {
	local timeout=$1 name sid end
	shift
	local -a sids=()
	for name in "$@"; do
		if sid=$(session_of "$name"); then
			signal_session TERM "$sid"
			sids+=("$sid")
		fi
	done
	end=$((SECONDS + timeout))
	for sid in "${sids[@]}"; do
		while session_alive "$sid" && ((SECONDS < end)); do sleep 0.2; done
		session_alive "$sid" && signal_session KILL "$sid"
	done
	for sid in "${sids[@]}"; do
		for _ in {1..25}; do
			session_alive "$sid" || break
			sleep 0.2
		done
	done
	for name in "$@"; do rm -f "$RUN/$name.pid" "$RUN/$name.started"; done
}

# The Erlang VM starts epmd as a daemon in a session of its own: stop it once RabbitMQ is gone.
kill_epmd() {
	if command -v epmd >/dev/null && port_open 4369; then
		ERL_EPMD_ADDRESS=127.0.0.1 epmd -kill >/dev/null 2>&1 || true
	fi
}

stop_service() {
	case $1 in
	rabbitmq)
		stop_many 30 rabbitmq
		kill_epmd
		;;
	mariadb) stop_many 60 mariadb ;;
	*) stop_many 15 "$1" ;;
	esac
}

# http_code URL [curl args...]: the HTTP status, 000 when nothing answers.
http_code() {
	local url=$1
	shift
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url" 2>/dev/null || true
}
http_answers() {
	local c
	c=$(http_code "$1")
	[[ $c =~ ^[23][0-9][0-9]$ ]]
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mysql_root() { mariadb --defaults-file="$ETC/my.cnf" --user=root "$@"; }

# service_ready NAME: the service answers (APIs, databases) or is running (workers).
service_ready() {
	case $1 in
	mariadb) is_running mariadb && mysql_root -N -e 'SELECT 1' >/dev/null 2>&1 ;;
	rabbitmq) is_running rabbitmq && port_open 5672 ;;
	keystone) is_running keystone && http_answers "$KEYSTONE_URL/v3" ;;
	placement) is_running placement && http_answers "$PLACEMENT_URL/" ;;
	glance) is_running glance && http_answers "$GLANCE_URL/" ;;
	neutron) is_running neutron && http_answers "$NEUTRON_URL/" ;;
	nova-api) is_running nova-api && http_answers "$NOVA_URL/" ;;
	*) is_running "$1" ;;
	esac
}

# uwsgi_app NAME PORT WSGI_FILE PROCESSES ENV=VALUE...
uwsgi_app() {
	local name=$1 port=$2 file=$3 procs=$4
	shift 4
	start_proc "$name" env "$@" uwsgi --plugin python3 --master --die-on-term --need-app --lazy-apps \
		--enable-threads --processes "$procs" --threads 1 --http-socket "127.0.0.1:$port" \
		--wsgi-file "$file" --add-header 'Connection: close' --buffer-size 65535
}

# start_service NAME: start one process (no dependency checks; up.sh orders them).
start_service() {
	local n
	case $1 in
	mariadb)
		start_proc mariadb mariadbd --defaults-file="$ETC/my.cnf" --user=mysql
		;;
	rabbitmq)
		local home
		home=$(getent passwd rabbitmq | cut -d: -f6)
		start_proc rabbitmq env HOME="$home" RABBITMQ_NODENAME=rabbit@localhost \
			RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672 ERL_EPMD_ADDRESS=127.0.0.1 \
			RABBITMQ_DIST_PORT=25672 RABBITMQ_MNESIA_BASE="$STATE/rabbitmq/mnesia" \
			RABBITMQ_LOG_BASE="$STATE/rabbitmq/log" RABBITMQ_LOGS=- \
			RABBITMQ_PID_FILE="$STATE/rabbitmq/rabbit.pid" \
			RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
			setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups \
			/usr/lib/rabbitmq/bin/rabbitmq-server
		;;
	keystone) uwsgi_app keystone 5000 /usr/bin/keystone-wsgi-public 2 OS_KEYSTONE_CONFIG_DIR="$ETC/keystone" ;;
	placement) uwsgi_app placement 8778 /usr/bin/placement-api 1 OS_PLACEMENT_CONFIG_DIR="$ETC/placement" ;;
	nova-api) uwsgi_app nova-api 8774 /usr/bin/nova-api-wsgi 2 OS_NOVA_CONFIG_DIR="$ETC/nova" ;;
	glance) start_proc glance glance-api --config-file "$ETC/glance/glance-api.conf" ;;
	neutron)
		start_proc neutron "$PY" "$OS_SCRIPTS/neutron-server.py" --config-file "$ETC/neutron/neutron.conf" \
			--config-file "$ETC/neutron/ml2_conf.ini"
		;;
	nova-conductor | nova-scheduler) start_proc "$1" "$1" --config-file "$ETC/nova/nova.conf" ;;
	nova-compute-*)
		n=${1#nova-compute-}
		[[ -f $ETC/nova/compute-$n.conf ]] || die "no $ETC/nova/compute-$n.conf: run up.sh (OPENSTACK_COMPUTES >= $n)"
		mkdir -p "$STATE/compute-$n/instances" "$STATE/compute-$n/lock"
		local vcpus=${OPENSTACK_COMPUTE_VCPUS:-}
		[[ -n $vcpus || ! -s $ETC/nova/compute-vcpus ]] || vcpus=$(<"$ETC/nova/compute-vcpus")
		start_proc "$1" env OPENSTACK_COMPUTE_VCPUS="${vcpus:-8}" \
			"$PY" "$OS_SCRIPTS/nova-compute.py" --config-file "$ETC/nova/nova.conf" \
			--config-file "$ETC/nova/compute-$n.conf"
		;;
	*) die "unknown service $1" ;;
	esac
}

# wait_ready NAME TIMEOUT: until service_ready, failing fast (with its log) if the process dies.
wait_ready() {
	local name=$1 timeout=$2 start=$SECONDS
	until service_ready "$name"; do
		is_running "$name" || die_log "$name" "$name exited during start"
		((SECONDS - start < timeout)) || die_log "$name" "$name not ready after ${timeout}s"
		sleep 0.5
	done
}
