#!/usr/bin/env bash
# Starts (installing it first if needed) a single-machine OpenStack Zed for tests: MariaDB, RabbitMQ,
# Keystone, Placement, Glance, Neutron (API only), nova-api/conductor/scheduler and OPENSTACK_COMPUTES
# (default 4) nova-compute processes compute-1..N on Nova's fake driver (8 vCPUs / 16384 MB / 200 GB
# each; OPENSTACK_COMPUTE_VCPUS overrides the vCPUs). Everything lives under <repo>/.openstack/.
#
# Idempotent: when everything runs it only checks health. Processes that died are started again one by
# one (the others keep running), in dependency order -- except MariaDB and RabbitMQ: if either of them is
# down while other services run, everything is stopped and started again, because every service holds
# connections to both. After a reboot (stale pid files) everything starts from the existing data dir.
# Prints "OpenStack ready" as its last line on success; fails fast, with the tail of the relevant log,
# when a process dies or a step times out.
set -euo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=configs.sh
source "$OS_SCRIPTS/configs.sh"

PACKAGES=(mariadb-server rabbitmq-server keystone placement-api nova-api nova-conductor nova-scheduler
	python3-nova python3-openstackclient python3-osc-placement glance-api neutron-server
	uwsgi-core uwsgi-plugin-python3 curl jq)
STARTED_ANY=0
EXPECTED=() # services that must be running from now on (checked during every wait)
declare -A SYNC_PID=()

[[ $(id -u) == 0 ]] || die "run as root (it installs packages and runs MariaDB/RabbitMQ as their users)"

kill_tree() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$c"; done
	kill "$1" 2>/dev/null || true
}
cleanup() { # on failure, stop the database syncs still running (not the services)
	local p
	for p in "${SYNC_PID[@]}"; do kill_tree "$p"; done
}
trap cleanup EXIT

expect() {
	local s
	for s in "$@"; do EXPECTED+=("$s"); done
}
check_alive() {
	local s
	for s in "${EXPECTED[@]}"; do
		is_running "$s" || die_log "$s" "$s died (log: $LOGS/$s.log)"
	done
}

# wait_for DESC TIMEOUT LOGNAME CMD...: poll CMD every second with progress lines every 10 s.
wait_for() {
	local desc=$1 timeout=$2 logname=$3 start=$SECONDS next=$((SECONDS + 10))
	shift 3
	until "$@"; do
		check_alive
		((SECONDS - start < timeout)) || die_log "$logname" "timed out after ${timeout}s waiting for $desc"
		if ((SECONDS >= next)); then
			log "  waiting for $desc${PROGRESS:+ ($PROGRESS)}"
			next=$((SECONDS + 10))
		fi
		sleep 1
	done
}

# launch NAME: start NAME unless it runs; from now on it must stay up.
launch() {
	if ! is_running "$1"; then
		start_service "$1"
		STARTED_ANY=1
		log "started $1"
	fi
	expect "$1"
}

ensure_service() {
	local name=$1 timeout=${2:-120}
	launch "$name"
	wait_for "$name" "$timeout" "$name" service_ready "$name"
}

# --- packages ----------------------------------------------------------------------------------------
pkg_installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]; }

ensure_packages() {
	local p missing=() created_policy=0 pid next
	for p in "${PACKAGES[@]}"; do pkg_installed "$p" || missing+=("$p"); done
	((${#missing[@]})) || return 0
	log "installing packages (${missing[*]}) -- log: $LOGS/apt.log"
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		# No package may start its service: this script starts them, on its own paths.
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		created_policy=1
	fi
	# dbconfig-common must not touch databases: up.sh configures its own.
	for p in keystone nova-common placement-common glance-common neutron-common; do
		echo "$p $p/configure_db boolean false"
	done | debconf-set-selections
	(
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
	) >>"$LOGS/apt.log" 2>&1 &
	pid=$!
	next=$((SECONDS + 15))
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= next)); then
			log "  installing: $(grep -c '^Setting up ' "$LOGS/apt.log" || true) packages set up"
			next=$((SECONDS + 15))
		fi
		sleep 1
	done
	if ! wait "$pid"; then
		((created_policy)) && rm -f /usr/sbin/policy-rc.d
		die_log apt "package installation failed"
	fi
	((created_policy)) && rm -f /usr/sbin/policy-rc.d
	for p in "${PACKAGES[@]}"; do pkg_installed "$p" || die_log apt "package $p is not installed"; done
	log "packages installed"
}

# --- MariaDB, RabbitMQ, databases ------------------------------------------------------------------------
start_mariadb() {
	is_running mariadb && return 0
	mkdir -p "$RUN/mysql" "$OS_DIR/mysql"
	touch "$LOGS/mariadb.log"
	chown mysql:mysql "$RUN/mysql" "$OS_DIR/mysql" "$LOGS/mariadb.log"
	if [[ ! -d $OS_DIR/mysql/mysql ]]; then
		log "initialising MariaDB data dir"
		mariadb-install-db --defaults-file="$ETC/my.cnf" --user=mysql --skip-test-db \
			--auth-root-authentication-method=socket >>"$LOGS/mariadb-init.log" 2>&1 ||
			die_log mariadb-init "mariadb-install-db failed"
	fi
	start_service mariadb
	STARTED_ANY=1
	log "started mariadb"
}

start_rabbitmq() {
	is_running rabbitmq && return 0
	mkdir -p "$STATE/rabbitmq/mnesia" "$STATE/rabbitmq/log"
	chown -R rabbitmq:rabbitmq "$STATE/rabbitmq"
	start_service rabbitmq
	STARTED_ANY=1
	log "started rabbitmq"
}

ensure_databases() {
	local sql="" db user var
	for db in keystone:keystone:KEYSTONE_DB_PASS placement:placement:PLACEMENT_DB_PASS \
		nova_api:nova:NOVA_DB_PASS nova:nova:NOVA_DB_PASS nova_cell0:nova:NOVA_DB_PASS \
		glance:glance:GLANCE_DB_PASS neutron:neutron:NEUTRON_DB_PASS; do
		IFS=: read -r db user var <<<"$db"
		sql+="CREATE DATABASE IF NOT EXISTS \`$db\`;"
		sql+="CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY '${!var}';"
		sql+="ALTER USER '$user'@'127.0.0.1' IDENTIFIED BY '${!var}';"
		sql+="GRANT ALL PRIVILEGES ON \`$db\`.* TO '$user'@'127.0.0.1';"
	done
	mysql_root -e "$sql" || die_log mariadb "creating the databases failed"
}

# --- schema syncs (skipped when done for the installed package version) -----------------------------
sync_version() { dpkg-query -W -f='${Version}' "$1"; }
declare -A SYNC_PKG=([keystone]=keystone [placement]=placement-api [nova]=python3-nova [glance]=glance-api [neutron]=neutron-server)

sync_keystone() {
	local conf="$ETC/keystone/keystone.conf" d
	keystone-manage --config-file "$conf" db_sync
	for d in fernet credential; do
		mkdir -p "$ETC/keystone/$d-keys"
		chmod 700 "$ETC/keystone/$d-keys"
		[[ -e $ETC/keystone/$d-keys/0 ]] ||
			keystone-manage --config-file "$conf" "${d}_setup" --keystone-user root --keystone-group root
	done
	keystone-manage --config-file "$conf" bootstrap --bootstrap-password "$ADMIN_PASS" \
		--bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
		--bootstrap-service-name keystone --bootstrap-region-id RegionOne \
		--bootstrap-public-url "$KEYSTONE_URL/v3/" --bootstrap-internal-url "$KEYSTONE_URL/v3/"
}
sync_placement() { placement-manage --config-file "$ETC/placement/placement.conf" db sync; }
sync_glance() { glance-manage --config-file "$ETC/glance/glance-api.conf" db_sync; }
sync_neutron() {
	neutron-db-manage --config-file "$ETC/neutron/neutron.conf" --config-file "$ETC/neutron/ml2_conf.ini" upgrade head
}
sync_nova() {
	local conf="$ETC/nova/nova.conf" rc=0
	nova-manage --config-file "$conf" api_db sync
	nova-manage --config-file "$conf" cell_v2 map_cell0 \
		--database_connection "mysql+pymysql://nova:$NOVA_DB_PASS@127.0.0.1/nova_cell0"
	nova-manage --config-file "$conf" cell_v2 create_cell --name cell1 --verbose || rc=$?
	((rc == 0 || rc == 2)) # 2: the cell already exists
	nova-manage --config-file "$conf" db sync
}

start_syncs() {
	local name marker
	for name in keystone placement glance nova neutron; do
		marker="$STATE/synced.$name"
		[[ -f $marker && $(<"$marker") == "$(sync_version "${SYNC_PKG[$name]}")" ]] && continue
		log "database sync: $name (log: $LOGS/sync-$name.log)"
		(
			"sync_$name"
			sync_version "${SYNC_PKG[$name]}" >"$marker"
		) >>"$LOGS/sync-$name.log" 2>&1 &
		SYNC_PID[$name]=$!
	done
}

sync_done() { ! kill -0 "${SYNC_PID[$1]}" 2>/dev/null; }
wait_sync() {
	local name=$1 pid=${SYNC_PID[$1]:-}
	[[ -n $pid ]] || return 0
	wait_for "database sync of $name" 600 "sync-$name" sync_done "$name"
	wait "$pid" || die_log "sync-$name" "database sync of $name failed"
	unset "SYNC_PID[$name]"
	log "database sync of $name done"
}

# --- REST helpers --------------------------------------------------------------------------------------
TOKEN=""
get_token() {
	local body
	body=$(jq -nc --arg p "$ADMIN_PASS" '{auth:{identity:{methods:["password"],password:{user:{name:"admin",
		domain:{name:"Default"},password:$p}}},scope:{project:{name:"admin",domain:{name:"Default"}}}}}')
	TOKEN=$(curl -sS -D - -o /dev/null --max-time 30 -H 'Content-Type: application/json' -d "$body" \
		"$KEYSTONE_URL/v3/auth/tokens" | awk 'tolower($1) == "x-subject-token:" {print $2}' | tr -d '\r')
	[[ -n $TOKEN ]] || die_log keystone "cannot get an admin token from Keystone"
}
api() { # api METHOD URL [curl args...]: body on stdout, fails on HTTP >= 400
	local method=$1 url=$2
	shift 2
	curl -sS -f --max-time 30 -X "$method" -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
		-H "OpenStack-API-Version: compute $NOVA_MV" "$@" "$url"
}
nova() { api "$1" "$NOVA_URL/v2.1$2" "${@:3}"; }

neutron_ports_ok() { [[ $(http_code "$NEUTRON_URL/v2.0/ports" -H "X-Auth-Token: $TOKEN") == 200 ]]; }

# computes_ready: every compute-N up (heartbeat since its start), mapped to the cell, with a resource
# provider; sets PROGRESS. Disabled computes are reported, not waited for (a test may have disabled one).
DISCOVERED_AT=-100
computes_ready() {
	local services mapped rps n host line state status updated started up=0 ok=0 nmapped=0 nrps=0
	services=$(nova GET "/os-services?binary=nova-compute" 2>/dev/null) || {
		PROGRESS="nova-api not answering"
		return 1
	}
	mapped=$(mysql_root -N -e 'SELECT host FROM nova_api.host_mappings' 2>/dev/null) || mapped=""
	rps=$(api GET "$PLACEMENT_URL/resource_providers" 2>/dev/null | jq -r '.resource_providers[].name') || rps=""
	for ((n = 1; n <= COMPUTES; n++)); do
		host=compute-$n
		line=$(jq -r --arg h "$host" '.services[] | select(.host == $h) |
			"\(.state) \(.status) \((.updated_at // "1970-01-01T00:00:00")[0:19] + "Z" | fromdateiso8601 | floor)"' \
			<<<"$services" | head -n 1)
		read -r state status updated <<<"$line"
		started=$(cat "$RUN/nova-compute-$n.started" 2>/dev/null || echo 0)
		[[ $state == up && ${updated:-0} -ge $((started - 1)) ]] && up=$((up + 1)) || continue
		grep -qxF "$host" <<<"$mapped" && nmapped=$((nmapped + 1))
		grep -qxF "$host" <<<"$rps" && nrps=$((nrps + 1))
		grep -qxF "$host" <<<"$mapped" && grep -qxF "$host" <<<"$rps" && ok=$((ok + 1))
	done
	PROGRESS="$up/$COMPUTES computes up, $nmapped mapped, $nrps in placement"
	if ((up == COMPUTES && nmapped < COMPUTES && SECONDS - DISCOVERED_AT >= 10)); then
		DISCOVERED_AT=$SECONDS
		nova-manage --config-file "$ETC/nova/nova.conf" cell_v2 discover_hosts --verbose \
			>>"$LOGS/nova-manage.log" 2>&1 || true
	fi
	((ok == COMPUTES))
}

report_disabled() {
	nova GET "/os-services?binary=nova-compute" | jq -r '.services[] | select(.status == "disabled") |
		"warning: \(.host) is disabled (reason: \(.disabled_reason // "none"))"'
}

# Boots a server with "networks":"none" in the admin project and deletes it again.
smoke_test() {
	local flavor image id status body resp code start
	flavor=$(nova GET "/flavors/detail" | jq -r '.flavors[] | select(.name == "fenix.tiny") | .id')
	image=$(api GET "$GLANCE_URL/v2/images?name=fenix-image" | jq -r '.images[0].id // empty')
	[[ -n $flavor && -n $image ]] || die "flavor fenix.tiny or image fenix-image missing"
	for id in $(nova GET "/servers?name=%5Efenix-openstack-up-smoke%24" | jq -r '.servers[].id'); do
		nova DELETE "/servers/$id" >/dev/null || true
	done
	body=$(jq -nc --arg i "$image" --arg f "$flavor" \
		'{server:{name:"fenix-openstack-up-smoke",imageRef:$i,flavorRef:$f,networks:"none"}}')
	resp=$(curl -sS --max-time 60 -w '\n%{http_code}' -X POST -H "X-Auth-Token: $TOKEN" \
		-H 'Content-Type: application/json' -H "OpenStack-API-Version: compute $NOVA_MV" -d "$body" \
		"$NOVA_URL/v2.1/servers")
	code=${resp##*$'\n'}
	[[ $code == 202 ]] || die_log nova-api "smoke test: POST /servers answered $code: ${resp%$'\n'*}"
	id=$(jq -r '.server.id' <<<"${resp%$'\n'*}")
	start=$SECONDS
	while :; do
		resp=$(nova GET "/servers/$id")
		status=$(jq -r '.server.status' <<<"$resp")
		[[ $status == ACTIVE ]] && break
		[[ $status == ERROR ]] && die_log nova-conductor "smoke test: server $id ERROR: $(jq -c '.server.fault' <<<"$resp")"
		check_alive
		((SECONDS - start < 90)) || die_log nova-scheduler "smoke test: server $id still $status after 90s"
		sleep 0.5
	done
	log "smoke test: server ACTIVE on $(jq -r '.server["OS-EXT-SRV-ATTR:host"]' <<<"$resp") in $((SECONDS - start))s"
	nova DELETE "/servers/$id" >/dev/null
	start=$SECONDS
	while [[ $(http_code "$NOVA_URL/v2.1/servers/$id" -H "X-Auth-Token: $TOKEN") != 404 ]]; do
		check_alive
		((SECONDS - start < 60)) || die_log nova-api "smoke test: server $id not deleted after 60s"
		sleep 0.5
	done
	log "smoke test: server deleted"
}

# --- main ----------------------------------------------------------------------------------------------
mkdir -p "$OS_DIR" "$LOGS" "$RUN" "$STATE"
exec 9>"$RUN/up.lock"
flock -n 9 || die "another up.sh is running"

ensure_packages
ensure_passwords
write_configs

if ! is_running mariadb || ! is_running rabbitmq; then
	running=()
	for s in $(service_names) $(all_pid_names); do
		[[ $s == mariadb || $s == rabbitmq ]] && continue
		is_running "$s" && running+=("$s")
	done
	if ((${#running[@]})); then
		log "MariaDB or RabbitMQ is down: stopping everything to start it all again"
		bash "$OS_SCRIPTS/down.sh" >/dev/null
	fi
fi

start_mariadb
start_rabbitmq
expect mariadb rabbitmq
wait_for "MariaDB" 120 mariadb service_ready mariadb
ensure_databases
wait_for "RabbitMQ" 120 rabbitmq service_ready rabbitmq
log "MariaDB and RabbitMQ up"

start_syncs
# Each API starts as soon as its schema is in place, without waiting for the others (Neutron is the
# slowest to start); the conductor authenticates at start and exits on a 401, so it, the scheduler and
# the computes start only after the Keystone entities exist.
wait_sync keystone
launch keystone
for s in neutron placement glance nova; do
	if [[ -z ${SYNC_PID[$s]:-} ]] || sync_done "$s"; then
		wait_sync "$s"
		if [[ $s == nova ]]; then launch nova-api; else launch "$s"; fi
	fi
done
ensure_service keystone
if ((STARTED_ANY)); then
	"$PY" "$OS_SCRIPTS/provision.py" identity >>"$LOGS/provision.log" 2>&1 || die_log provision "Keystone provisioning failed"
	log "Keystone: projects, users, roles and catalog in place"
fi
wait_sync placement
launch placement
wait_sync glance
launch glance
wait_sync nova
for s in nova-api nova-conductor nova-scheduler; do launch "$s"; done
for ((n = 1; n <= COMPUTES; n++)); do launch "nova-compute-$n"; done
wait_sync neutron
launch neutron
for s in placement glance nova-api; do ensure_service "$s" 120; done
ensure_service neutron 180
log "all $((9 + COMPUTES)) processes running, APIs answering"
get_token
wait_for "neutron GET /v2.0/ports = 200" 120 neutron neutron_ports_ok
if ((STARTED_ANY)); then
	"$PY" "$OS_SCRIPTS/provision.py" resources >>"$LOGS/provision.log" 2>&1 || die_log provision "flavors/image provisioning failed"
	log "flavors fenix.small, fenix.tiny and image fenix-image in place"
fi
PROGRESS=""
wait_for "computes up and mapped" 240 nova-compute-1 computes_ready
log "$PROGRESS"
report_disabled
((STARTED_ANY)) && smoke_test

log "keystone $KEYSTONE_URL/v3 placement $PLACEMENT_URL glance $GLANCE_URL neutron $NEUTRON_URL nova $NOVA_URL/v2.1; clouds: $OS_DIR/clouds.yaml (fenix-admin, vnf-a, vnf-b)"
echo "OpenStack ready"
