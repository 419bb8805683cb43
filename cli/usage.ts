/** Help texts: `fenix --help`, and `fenix <command> --help` for one command. */

const GLOBAL = `Global options (any command):
  --url <url>       API base URL (default $FENIX_URL, else http://127.0.0.1:12347)
  --token <jwt>     bearer token (default $FENIX_TOKEN; against a local URL without one, tokens
                    are minted with the keys in $FENIX_DATA_DIR, default .fenix-data)
  --json            machine-readable output
  -h, --help        this help`;

export const COMMANDS: Record<string, string> = {
  'session create': `fenix session create [--host <name>[,<name>…]]… [--at <time>] [--workflow <name>]
                    [--metadata <json>] [--action <plugin>:<type>[:<json>]]… [--idempotency-key <key>]
                    [--on-no-reply DEFAULT_ACTION|FAIL] [--default-action LIVE_MIGRATE|MIGRATE|EVICTION]
                    [--policy <json>] [--download <url>|<json>]… [--parallel <n>] [--max-failed <n>]
  Creates a session (state MAINTENANCE) and prints its id. No --host: every host of the cloud.
  --workflow: default, or vnf (PREPARE/PLANNED asked per instance, paced by the instance constraints).
  --parallel: computes emptied and maintained at once (rollout.max_parallel_hosts, default 1);
  --max-failed: hosts that may fail before no new one starts (rollout.max_failed_hosts, default 0).
  --at: "YYYY-MM-DD HH:MM:SS" (UTC), ISO 8601, "now" or "+90s" / "+5m" / "+1h" (default +60s);
        it must leave projects the MAINTENANCE reply window.
  --action: a plug-in run, type pre, post, host, compute or controller, e.g. dummy:compute.
  --on-no-reply: what a project that does not answer gets: its instances the default action
        (DEFAULT_ACTION, the default) or the session fails (FAIL). Projects no subscription
        listens to are never waited for. --default-action: LIVE_MIGRATE unless set.
  --policy: the whole policy as JSON, with per-project overrides, e.g.
        '{"projects": {"vnf-a": {"on_no_reply": "FAIL"}, "batch": {"interacting": false}}}'.
  --download: an artefact fetched before anyone is notified: a https URL, or
        '{"url": "…", "sha256": "…", "name": "…"}'; plug-ins get the stored copies.`,
  'session list': `fenix session list
  Every session not yet deleted, with its state.`,
  'session show': `fenix session show <session_id>
  The session in detail: hosts, projects, instances, plug-in runs, history.`,
  'session watch': `fenix session watch <session_id> [--interval <seconds>]
  Live progress until the session ends: exit 0 on MAINTENANCE_DONE, 1 on MAINTENANCE_FAILED.`,
  'session continue': `fenix session continue <session_id> --state <STATE> [--at <time>] [--metadata <json>]
  Continues a MAINTENANCE_FAILED session from STATE (PUT /v1/maintenance/{id}; POST is the same).`,
  'session delete': `fenix session delete <session_id>
  Stops the session, re-enables its hosts and removes it.`,
  'project instances': `fenix project instances <session_id> <project_id>
  The project's instances the session's current state concerns.`,
  'project reply': `fenix project reply <session_id> <project_id> --ack|--nack [--action <instance>=<ACTION>]… [--state <STATE>]
  Answers the round the session waits on (the state is read from the session unless --state).
  ACTION: MIGRATE, LIVE_MIGRATE, OWN_ACTION or EVICTION; <instance> "*" means every instance listed.`,
  'constraints put': `fenix constraints put instance|group <id> [--project <project_id>] [--json-body <json>|@<file>]
                    instance: [--group-id <id>] [--instance-name <name>] [--migration-type <ACTION>]
                              [--lead-time <s>] [--max-interruption-time <s>] [--resource-mitigation]
                    group:    [--group-name <name>] [--anti-affinity-group] [--max-instances-per-host <n>]
                              [--max-impacted-members <n>] [--recovery-time <s>] [--resource-mitigation]
  Creates or replaces an instance's or an instance group's constraint, then prints what is stored.
  A PUT replaces the whole object: what is not given takes its default. The options override the
  fields of --json-body. --project: the owner (speaks for it; an admin token must name one).
  ACTION: MIGRATE, LIVE_MIGRATE, OWN_ACTION or EVICTION; times in seconds; an instance constraint
  needs an instance the cloud knows as the project's.`,
  'constraints get': `fenix constraints get instance|group <id> [--project <project_id>]
  The stored constraint, defaults filled (another project's is not found).`,
  'constraints delete': `fenix constraints delete instance|group <id> [--project <project_id>]
  Removes the constraint (not the instance; a group's members keep theirs).`,
  token: `fenix token --admin | --project <project_id> [--ttl <seconds>]
  Prints a bearer token for the local runtime (keys in $FENIX_DATA_DIR, default .fenix-data).`,
};

export const usage = (command?: string): string =>
  command && COMMANDS[command]
    ? `usage: ${COMMANDS[command]}\n\n${GLOBAL}\n`
    : `fenix — admin and VNFM command line for the Fenix Host Maintenance API

usage: fenix <command> [options]

${Object.values(COMMANDS)
  .map((text) => text.split('\n')[0])
  .join('\n')}

${GLOBAL}

fenix <command> --help shows one command in full.
`;
