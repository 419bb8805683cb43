# shellcheck shell=bash
# Generates .openstack/etc/* from the passwords (sourced by up.sh after common.sh). Rewritten on every
# run: running processes read their configuration only at start.

ensure_passwords() {
	local f="$OS_DIR/passwords.env" k
	touch "$f"
	chmod 600 "$f"
	for k in ADMIN_PASS VNF_A_PASS VNF_B_PASS NOVA_PASS PLACEMENT_PASS GLANCE_PASS NEUTRON_PASS \
		KEYSTONE_DB_PASS PLACEMENT_DB_PASS NOVA_DB_PASS GLANCE_DB_PASS NEUTRON_DB_PASS; do
		grep -q "^$k=" "$f" || printf '%s=%s\n' "$k" "$("$PY" -c 'import secrets; print(secrets.token_hex(12))')" >>"$f"
	done
	set -a
	# shellcheck disable=SC1090
	source "$f"
	set +a
}

# authtoken_section USER PASSWORD: [keystone_authtoken] of an API service.
authtoken_section() {
	cat <<-EOT
		[keystone_authtoken]
		www_authenticate_uri = $KEYSTONE_URL
		auth_url = $KEYSTONE_URL
		auth_type = password
		project_domain_name = Default
		user_domain_name = Default
		project_name = service
		username = $1
		password = $2
		region_name = RegionOne
		interface = public
		service_type = $3
	EOT
}

# service_auth SECTION USER PASSWORD: a keystoneauth section used to call another service.
service_auth() {
	cat <<-EOT
		[$1]
		auth_type = password
		auth_url = $KEYSTONE_URL/v3
		project_domain_name = Default
		user_domain_name = Default
		project_name = service
		username = $2
		password = $3
		region_name = RegionOne
		valid_interfaces = public
	EOT
}

write_configs() {
	local rabbit="rabbit://guest:guest@127.0.0.1:5672/" db="mysql+pymysql" n
	mkdir -p "$ETC"/{keystone,placement,nova,glance,neutron} "$STATE"/{nova/lock,glance/images,glance/staging,glance/tasks,neutron/lock,rabbitmq}

	cat >"$ETC/my.cnf" <<-EOT
		[client]
		socket = $RUN/mysql/mysqld.sock
		[mysqld]
		datadir = $OS_DIR/mysql
		socket = $RUN/mysql/mysqld.sock
		pid-file = $RUN/mysql/mysqld.pid
		log-error = $LOGS/mariadb.log
		port = 3306
		bind-address = 127.0.0.1
		skip-log-bin
		skip-name-resolve
		innodb_flush_log_at_trx_commit = 0
		innodb_doublewrite = 0
		max_connections = 1000
		character-set-server = utf8
		collation-server = utf8_general_ci
	EOT
	chmod 644 "$ETC/my.cnf"

	cat >"$ETC/keystone/keystone.conf" <<-EOT
		[DEFAULT]
		[database]
		connection = $db://keystone:$KEYSTONE_DB_PASS@127.0.0.1/keystone
		[token]
		provider = fernet
		[fernet_tokens]
		key_repository = $ETC/keystone/fernet-keys/
		[fernet_receipts]
		key_repository = $ETC/keystone/fernet-keys/
		[credential]
		key_repository = $ETC/keystone/credential-keys/
	EOT

	{
		cat <<-EOT
			[DEFAULT]
			[api]
			auth_strategy = keystone
			[placement_database]
			connection = $db://placement:$PLACEMENT_DB_PASS@127.0.0.1/placement
		EOT
		authtoken_section placement "$PLACEMENT_PASS" placement
	} >"$ETC/placement/placement.conf"

	{
		cat <<-EOT
			[DEFAULT]
			transport_url = $rabbit
			my_ip = 127.0.0.1
			host = controller
			enabled_apis = osapi_compute
			compute_driver = fake.MediumFakeDriver
			state_path = $STATE/nova
			cpu_allocation_ratio = 1.0
			ram_allocation_ratio = 1.0
			disk_allocation_ratio = 1.0
			initial_cpu_allocation_ratio = 1.0
			initial_ram_allocation_ratio = 1.0
			initial_disk_allocation_ratio = 1.0
			reserved_host_cpus = 0
			reserved_host_memory_mb = 0
			reserved_host_disk_mb = 0
			service_down_time = 20
			report_interval = 5
			graceful_shutdown_timeout = 2
			heal_instance_info_cache_interval = -1
			[api]
			auth_strategy = keystone
			[api_database]
			connection = $db://nova:$NOVA_DB_PASS@127.0.0.1/nova_api
			[database]
			connection = $db://nova:$NOVA_DB_PASS@127.0.0.1/nova
			[compute]
			consecutive_build_service_disable_threshold = 0
			[conductor]
			workers = 1
			[scheduler]
			workers = 1
			discover_hosts_in_cells_interval = 5
			[oslo_concurrency]
			lock_path = $STATE/nova/lock
			[oslo_messaging_notifications]
			driver = noop
			[wsgi]
			api_paste_config = /etc/nova/api-paste.ini
			[vnc]
			enabled = false
			[glance]
			region_name = RegionOne
			valid_interfaces = public
			[cinder]
			os_region_name = RegionOne
		EOT
		authtoken_section nova "$NOVA_PASS" compute
		service_auth placement nova "$NOVA_PASS"
		service_auth neutron neutron "$NEUTRON_PASS"
		service_auth service_user nova "$NOVA_PASS"
		echo "send_service_user_token = true"
	} >"$ETC/nova/nova.conf"
	cp /etc/nova/api-paste.ini "$ETC/nova/api-paste.ini"
	echo "${OPENSTACK_COMPUTE_VCPUS:-8}" >"$ETC/nova/compute-vcpus"
	for ((n = 1; n <= COMPUTES; n++)); do
		cat >"$ETC/nova/compute-$n.conf" <<-EOT
			[DEFAULT]
			host = compute-$n
			state_path = $STATE/compute-$n
			instances_path = $STATE/compute-$n/instances
			[oslo_concurrency]
			lock_path = $STATE/compute-$n/lock
		EOT
	done

	{
		cat <<-EOT
			[DEFAULT]
			bind_host = 127.0.0.1
			bind_port = 9292
			workers = 0
			enabled_backends = fs:file
			graceful_shutdown_timeout = 5
			[database]
			connection = $db://glance:$GLANCE_DB_PASS@127.0.0.1/glance
			[glance_store]
			default_backend = fs
			[fs]
			filesystem_store_datadir = $STATE/glance/images/
			[os_glance_staging_store]
			filesystem_store_datadir = $STATE/glance/staging/
			[os_glance_tasks_store]
			filesystem_store_datadir = $STATE/glance/tasks/
			[paste_deploy]
			flavor = keystone
			config_file = /etc/glance/glance-api-paste.ini
			[oslo_concurrency]
			lock_path = $STATE/glance
			[oslo_messaging_notifications]
			driver = noop
		EOT
		authtoken_section glance "$GLANCE_PASS" image
	} >"$ETC/glance/glance-api.conf"

	{
		cat <<-EOT
			[DEFAULT]
			bind_host = 127.0.0.1
			bind_port = 9696
			core_plugin = ml2
			service_plugins = router
			auth_strategy = keystone
			api_workers = 0
			rpc_workers = 0
			rpc_state_report_workers = 0
			notify_nova_on_port_status_changes = false
			notify_nova_on_port_data_changes = false
			transport_url = $rabbit
			state_path = $STATE/neutron
			api_paste_config = /etc/neutron/api-paste.ini
			graceful_shutdown_timeout = 5
			[database]
			connection = $db://neutron:$NEUTRON_DB_PASS@127.0.0.1/neutron
			[oslo_concurrency]
			lock_path = $STATE/neutron/lock
			[oslo_messaging_notifications]
			driver = noop
		EOT
		authtoken_section neutron "$NEUTRON_PASS" network
	} >"$ETC/neutron/neutron.conf"
	cat >"$ETC/neutron/ml2_conf.ini" <<-EOT
		[ml2]
		type_drivers = flat
		tenant_network_types =
		mechanism_drivers =
		extension_drivers =
		[ml2_type_flat]
		flat_networks =
	EOT
	chmod 600 "$ETC"/{keystone,placement,nova,glance,neutron}/*.conf

	local -a clouds=("fenix-admin admin ADMIN_PASS admin" "vnf-a vnf-a VNF_A_PASS vnf-a" "vnf-b vnf-b VNF_B_PASS vnf-b")
	local c name user var project
	{
		echo "# Generated by scripts/openstack/up.sh: the local test cloud (openstacksdk clouds.yaml)."
		echo "clouds:"
		for c in "${clouds[@]}"; do
			read -r name user var project <<<"$c"
			cat <<-EOT
				  $name:
				    auth:
				      auth_url: $KEYSTONE_URL/v3
				      username: $user
				      password: ${!var}
				      project_name: $project
				      user_domain_name: Default
				      project_domain_name: Default
				    region_name: RegionOne
				    interface: public
				    identity_api_version: 3
			EOT
		done
	} >"$OS_DIR/clouds.yaml.tmp"
	chmod 600 "$OS_DIR/clouds.yaml.tmp"
	mv "$OS_DIR/clouds.yaml.tmp" "$OS_DIR/clouds.yaml"
}
