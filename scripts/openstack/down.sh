#!/usr/bin/env bash
# Stops the local test cloud started by up.sh: the computes, the other OpenStack services, then RabbitMQ
# (and epmd) and MariaDB. Keeps .openstack/ so that the next up.sh is warm; --purge also deletes it.
# Idempotent: does nothing for what is not running.
set -euo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

purge=0
case ${1:-} in
--purge) purge=1 ;;
"") ;;
*) die "usage: $0 [--purge]" ;;
esac

if [[ -d $RUN ]]; then
	# Computes first (they would wait for the conductor otherwise), then the other OpenStack services,
	# then RabbitMQ and MariaDB; each group in parallel.
	computes=() services=()
	for s in $(all_pid_names); do
		case $s in
		mariadb | rabbitmq) ;;
		nova-compute-*) computes+=("$s") ;;
		*) services+=("$s") ;;
		esac
	done
	((${#computes[@]} == 0)) || stop_many 10 "${computes[@]}"
	((${#services[@]} == 0)) || stop_many 15 "${services[@]}"
	stop_many 60 rabbitmq mariadb
	kill_epmd
fi
if ((purge)); then
	rm -rf "$OS_DIR"
	log "stopped; $OS_DIR deleted"
else
	log "stopped (data kept in $OS_DIR)"
fi
