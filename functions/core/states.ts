/** Session states of the Fenix default workflow (DESIGN §4, contract: verbatim names). */
export const SESSION_STATES = [
  'MAINTENANCE',
  'SCALE_IN',
  'PREPARE_MAINTENANCE',
  'START_MAINTENANCE',
  'PLANNED_MAINTENANCE',
  'MAINTENANCE_COMPLETE',
  'MAINTENANCE_DONE',
  'MAINTENANCE_FAILED',
] as const;
export type SessionState = (typeof SESSION_STATES)[number];

/** States in which the workflow waits for project replies (one reply round each). */
export const ROUND_STATES = [
  'MAINTENANCE',
  'SCALE_IN',
  'PREPARE_MAINTENANCE',
  'PLANNED_MAINTENANCE',
  'MAINTENANCE_COMPLETE',
] as const;
export type RoundState = (typeof ROUND_STATES)[number];

export const TERMINAL_STATES: readonly SessionState[] = ['MAINTENANCE_DONE', 'MAINTENANCE_FAILED'];
export const isTerminal = (state: SessionState): boolean => TERMINAL_STATES.includes(state);

export const INSTANCE_ACTIONS = ['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION', 'EVICTION'] as const;
export type InstanceAction = (typeof INSTANCE_ACTIONS)[number];

/**
 * What a project may ask for in each round. Fenix advertises no actions for the project-wide rounds
 * and MIGRATE / LIVE_MIGRATE / OWN_ACTION when a host is being emptied; EVICTION is accepted there
 * too (the engine removes the instance), as the Kubernetes workflow of Fenix did.
 */
export const ALLOWED_ACTIONS: Record<RoundState, readonly InstanceAction[]> = {
  MAINTENANCE: [],
  SCALE_IN: [],
  PREPARE_MAINTENANCE: ['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION', 'EVICTION'],
  PLANNED_MAINTENANCE: ['MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION', 'EVICTION'],
  MAINTENANCE_COMPLETE: [],
};

/** Rounds that take the longer scale-in reply window (Fenix `project_scale_in_reply`). */
export const usesScaleInWindow = (state: RoundState): boolean =>
  state === 'SCALE_IN' || state === 'MAINTENANCE_COMPLETE';

export const HOST_TYPES = ['compute', 'controller'] as const;
export type HostType = (typeof HOST_TYPES)[number];

export const PLUGIN_TYPES = ['pre', 'post', 'host', 'compute', 'controller'] as const;
export type PluginType = (typeof PLUGIN_TYPES)[number];
