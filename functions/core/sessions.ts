import { createHash, randomUUID } from 'node:crypto';
import type { Deps } from './deps.js';
import { checkDownloadUrls, normalizeDownloads } from './downloads.js';
import { ConflictError, NotFoundError, ValidationError } from './errors.js';
import type { CloudHost, Session, SessionHost } from './model.js';
import type { CreateSessionRequest, UpdateSessionRequest } from './schemas.js';
import { parseFenixTime, toFenixTime, toIsoSeconds } from './time.js';
import { moveTo } from './transitions.js';

/**
 * Creates a session and starts its workflow.
 * 1. Resolve the hosts: the named ones (each must exist and be enabled) or, when none is named,
 *    every compute and controller of the cloud (Fenix's "one click" discovery).
 * 2. Lock the hosts: a host already in another active session → 409, and nothing is written.
 * 3. Store the session, then start one execution named after it. If the start fails, undo 2–3.
 */
/**
 * `createSession` behind an optional Idempotency-Key: a retried request with the same key and body
 * gets the first answer (and creates nothing); the same key with another body is a 409; a retry
 * while the first request is still running is a 409 the client can retry.
 */
export const createSessionOnce = async (
  request: CreateSessionRequest,
  idempotencyKey: string | undefined,
  deps: Deps,
): Promise<{ session_id: string }> => {
  if (!idempotencyKey) return createSession(request, deps);
  const requestHash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
  const claim = await deps.store.claimIdempotencyKey(idempotencyKey, requestHash);
  if (!claim.claimed) {
    if (claim.requestHash !== requestHash) {
      throw new ConflictError(
        'this Idempotency-Key was already used with a different request body',
        'idempotency_key_reused',
      );
    }
    if (!claim.sessionId)
      throw new ConflictError(
        'a request with this Idempotency-Key is still being processed; retry shortly',
        'request_in_progress',
      );
    return { session_id: claim.sessionId };
  }
  try {
    const created = await createSession(request, deps);
    await deps.store.completeIdempotencyKey(idempotencyKey, created.session_id);
    return created;
  } catch (error) {
    await deps.store.releaseIdempotencyKey(idempotencyKey); // a refused request may be corrected and retried
    throw error;
  }
};

export const createSession = async (request: CreateSessionRequest, deps: Deps): Promise<{ session_id: string }> => {
  const maintenanceAt = parseFenixTime(request.maintenance_at);
  if (!maintenanceAt) throw new ValidationError('maintenance_at: not a valid time');
  checkReplyWindowFits(maintenanceAt, deps);
  request.actions.forEach((action, index) => {
    if (!(action.plugin in deps.settings.plugins)) {
      const installed = Object.keys(deps.settings.plugins).sort().join(', ') || 'none';
      throw new ValidationError(
        `actions.${index}.plugin: no plug-in named ${action.plugin} is installed (installed: ${installed})`,
      );
    }
  });
  const download = request.download ? normalizeDownloads(request.download) : undefined;
  if (download) await checkDownloadUrls(download, deps.settings.downloadAllow);
  const hosts = await resolveHosts(request.hosts, deps);

  const sessionId = randomUUID();
  const names = hosts.map((host) => host.name);
  await deps.store.lockHosts(sessionId, names);
  const now = deps.clock.now().toISOString();
  const session: Session = {
    session_id: sessionId,
    state: 'MAINTENANCE',
    workflow: request.workflow,
    maintenance_at: toIsoSeconds(maintenanceAt),
    metadata: request.metadata,
    ...(download ? { download } : {}),
    actions: request.actions,
    policy: request.policy,
    rollout: request.rollout,
    host_count: hosts.length,
    created_at: now,
    updated_at: now,
    execution_name: sessionId,
    event_seq: 0,
    round_seq: 0,
  };
  try {
    await deps.store.createSession(session, hosts);
    await deps.engine.start(sessionId, sessionId, { session_id: sessionId });
  } catch (error) {
    await deps.store.deleteSession(sessionId);
    await deps.store.releaseHosts(sessionId, names);
    throw error;
  }
  return { session_id: sessionId };
};

/**
 * Projects get their whole MAINTENANCE reply window before maintenance_at: a time that leaves less
 * is refused (naming the earliest time accepted) rather than a session that fails at once.
 */
const checkReplyWindowFits = (maintenanceAt: Date, deps: Pick<Deps, 'clock' | 'settings'>) => {
  const window = deps.settings.maintenanceReplySeconds;
  // Whole seconds: maintenance_at has no fraction, so "now + window" is counted from this second.
  const nowSecond = Math.floor(deps.clock.now().getTime() / 1000) * 1000;
  if (maintenanceAt.getTime() >= nowSecond + window * 1000) return;
  const earliest = toFenixTime(new Date(nowSecond + (window + 1) * 1000));
  throw new ValidationError(
    `maintenance_at: must leave projects the ${window} s reply window of MAINTENANCE; the earliest accepted now is ${earliest}`,
  );
};

/**
 * The session's hosts. A host already disabled (by an operator, or another tool) is taken as it is:
 * it is maintained like the others but keeps its state and reason afterwards, since the session
 * enables only what it disabled itself.
 */
const resolveHosts = async (names: string[], deps: Deps): Promise<SessionHost[]> => {
  const toSessionHost = (host: CloudHost): SessionHost => ({
    name: host.name,
    type: host.type,
    disabled: host.disabled,
    maintained: false,
    ...(host.disabled ? { disabled_before: host.disabled_reason ?? '' } : {}),
  });
  if (names.length === 0) {
    const discovered = (await deps.cloud.listHosts()).filter(
      (host) => host.type === 'compute' || host.type === 'controller',
    );
    if (discovered.length === 0) throw new ValidationError('hosts: none given and the cloud has no hosts to discover');
    return discovered.map(toSessionHost);
  }
  const found = await deps.cloud.getHosts(names);
  return names.map((name, index) => {
    const host = found[index];
    if (!host) throw new ValidationError(`hosts.${index}: no host named ${name} in the cloud`);
    return toSessionHost(host);
  });
};

/** The `disabled_reason` a session sets on the hosts it disables (and the only one it ever enables). */
export const disableReason = (sessionId: string) => `fenix maintenance ${sessionId}`;

export const getSessionOrThrow = async (sessionId: string, deps: Pick<Deps, 'store'>): Promise<Session> => {
  const session = await deps.store.getSession(sessionId);
  if (!session) throw new NotFoundError(`no maintenance session ${sessionId}`);
  return session;
};

/**
 * Deletes a session: stops its execution first (so nothing it started keeps running), re-enables
 * the hosts it disabled, then removes its records and releases its host locks.
 */
export const deleteSession = async (sessionId: string, deps: Deps): Promise<void> => {
  const session = await getSessionOrThrow(sessionId, deps);
  await deps.engine.stop(session.execution_name, 'session deleted');
  const hosts = await deps.store.listHosts(sessionId);
  for (const host of hosts.filter((h) => h.disabled)) await deps.cloud.enableHost(host.name, disableReason(sessionId));
  await deps.store.deleteSession(sessionId);
  await deps.artifacts.removeSession(sessionId);
  await deps.store.releaseHosts(
    sessionId,
    hosts.map((host) => host.name),
  );
};

/**
 * Starts a fresh execution for a session from `state` (DESIGN §10: resume is the same path as
 * continue). Every state reads what it needs from the store, so the new execution takes up the
 * session where the records say it is: maintained hosts are skipped, an open round is waited on
 * until its stored deadline, recorded replies stand.
 */
export const startExecutionFrom = async (session: Session, state: Session['state'], deps: Deps): Promise<string> => {
  const count = (session.execution_count ?? 1) + 1;
  const name = `${session.session_id}-${count}`;
  // A new epoch: host executions an earlier one started are gone (a restart) or over (a continue).
  await deps.store.updateSession(session.session_id, {
    execution_name: name,
    execution_count: count,
    execution_events: 0,
    epoch: (session.epoch ?? 0) + 1,
    starting: [],
    wake_token: undefined,
  });
  await deps.engine.start(session.session_id, name, { session_id: session.session_id, resume_from: state });
  return name;
};

/**
 * `PUT /v1/maintenance/{id}` `{state, maintenance_at?, metadata?}`: continues a MAINTENANCE_FAILED
 * session from `state` once the admin has fixed the cause.
 * 1. 404 unknown; 409 unless the session is MAINTENANCE_FAILED (a running or finished session
 *    cannot be continued); 409 when maintenance_at/metadata change after host work started.
 * 2. Take the host locks again (another session may have claimed a host meanwhile → 409).
 * 3. Move the session to `state` (clearing the failure and the loop counters), then start a fresh
 *    execution from there.
 */
export const continueSession = async (sessionId: string, request: UpdateSessionRequest, deps: Deps): Promise<void> => {
  const session = await getSessionOrThrow(sessionId, deps);
  if (session.state !== 'MAINTENANCE_FAILED') {
    throw new ConflictError(
      `session ${sessionId} is ${session.state}; only a MAINTENANCE_FAILED session can be continued`,
      session.state === 'MAINTENANCE_DONE' ? 'session_done' : 'session_running',
    );
  }
  const hosts = await deps.store.listHosts(sessionId);
  // Hosts of a parallel rollout finish on their own after the session failed: wait for them.
  const busy = [...(session.in_flight ?? [])].filter((name) =>
    hosts.some((host) => host.name === name && host.phase === 'IN_MAINTENANCE'),
  );
  if (busy.length > 0) {
    throw new ConflictError(
      `host${busy.length === 1 ? '' : 's'} ${busy.sort().join(', ')} still in maintenance; continue once ${busy.length === 1 ? 'it ends' : 'they end'}`,
      'hosts_in_flight',
    );
  }
  const started = hosts.some(
    (host) =>
      (host.disabled && host.disabled_before === undefined) ||
      host.maintained ||
      host.phase === 'IN_MAINTENANCE' ||
      host.phase === 'FAILED',
  );
  if (started && (request.maintenance_at !== undefined || request.metadata !== undefined)) {
    throw new ConflictError(
      'maintenance_at and metadata can change only before host work has started',
      'host_work_started',
    );
  }
  const maintenanceAt = request.maintenance_at ? parseFenixTime(request.maintenance_at) : undefined;
  if (maintenanceAt && request.state === 'MAINTENANCE') checkReplyWindowFits(maintenanceAt, deps);
  await deps.store.lockHosts(
    sessionId,
    hosts.map((host) => host.name),
  );
  // Failed hosts are tried again (they are still disabled, and empty unless an action failed on them).
  const failed = hosts.filter((h) => h.phase === 'FAILED');
  for (const host of failed) {
    await deps.store.updateHost(sessionId, host.name, {
      phase: host.maintained ? 'MAINTAINED' : 'PENDING',
      blocking_reason: undefined,
    });
  }
  await deps.store.changeHostSet(
    sessionId,
    'failed_hosts',
    'delete',
    failed.map((h) => h.name),
  );
  await deps.store.updateSession(sessionId, { draining_rounds: [] });
  const stillFlying = [...(session.in_flight ?? [])];
  await deps.store.changeHostSet(sessionId, 'in_flight', 'delete', stillFlying);
  for (const name of stillFlying) await deps.store.updateHost(sessionId, name, { phase: 'PENDING' });
  const moved = await moveTo(sessionId, request.state, deps, {
    failure: undefined,
    scale_in_rounds: 0,
    empty_checks: 0,
    ...(maintenanceAt ? { maintenance_at: toIsoSeconds(maintenanceAt) } : {}),
    ...(request.metadata ? { metadata: request.metadata } : {}),
  });
  await startExecutionFrom(moved, request.state, deps);
};
