/**
 * The sample action plug-in (Fenix's `dummy`): does nothing and reports DONE. A plug-in receives
 * `{session_id, host, plugin, metadata, download}` (host is null for `pre`/`post` plug-ins) and
 * answers `{state: "DONE" | "FAILED", message?}`; FAILED or a throw fails the session.
 */
export interface PluginInput {
  session_id: string;
  host: string | null;
  plugin: string;
  metadata: Record<string, unknown>;
  download: string[];
}

export interface PluginOutput {
  state: 'DONE' | 'FAILED';
  message?: string;
}

export const handler = async (input: PluginInput): Promise<PluginOutput> => ({
  state: 'DONE',
  message: `dummy did nothing on ${input.host ?? input.plugin}`,
});
