#!/usr/bin/env bash
# One process of the local test cloud, for fault tests:
#   service.sh stop|start|restart NAME   NAME: mariadb rabbitmq keystone placement glance neutron nova-api
#                                        nova-conductor nova-scheduler nova-compute-N
#   service.sh status [NAME]             "NAME running PID" / "NAME stopped"; exit 3 when NAME is stopped
# start returns once the service answers (APIs, MariaDB, RabbitMQ) or, for workers, once it is running.
# It does not start dependencies. Restarting a nova-compute loses its (fake, in-memory) instances.
set -euo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() { die "usage: $0 stop|start|restart NAME | status [NAME]"; }

status_of() {
	local pid
	if pid=$(pid_of "$1"); then
		echo "$1 running $pid"
	else
		echo "$1 stopped"
		return 3
	fi
}

start_one() {
	local name=$1
	if is_running "$name"; then
		echo "$name already running"
		return 0
	fi
	[[ -f $ETC/nova/nova.conf ]] || die "no configuration in $ETC: run up.sh first"
	start_service "$name"
	case $name in
	nova-conductor | nova-scheduler | nova-compute-*)
		sleep 2 # a worker that fails on its configuration exits at once
		is_running "$name" || die_log "$name" "$name exited during start"
		;;
	*) wait_ready "$name" 180 ;;
	esac
	echo "$name started"
}

cmd=${1:-}
name=${2:-}
case $cmd in
status)
	if [[ -n $name ]]; then
		valid_service "$name" || usage
		status_of "$name"
	else
		for s in $( (service_names; all_pid_names) | awk '!seen[$0]++'); do status_of "$s" || true; done
	fi
	;;
start | stop | restart)
	valid_service "$name" || usage
	if [[ $cmd != start ]]; then
		stop_service "$name"
		echo "$name stopped"
	fi
	[[ $cmd == stop ]] || start_one "$name"
	;;
*) usage ;;
esac
