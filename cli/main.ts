import { parse, UsageError } from './args.js';
import { deleteConstraint, getConstraint, putConstraint } from './constraints.js';
import type { Context, Io } from './context.js';
import { Api, ApiError, DEFAULT_URL, parseBaseUrl, resolveAuth, UnreachableError } from './http.js';
import { projectInstances, projectReply } from './project.js';
import { continueSession, createSession, deleteSession, listSessions, showSession } from './session.js';
import { token } from './token.js';
import { COMMANDS, usage } from './usage.js';
import { watchSession } from './watch.js';

type Command = (ctx: Context) => Promise<number>;

const HANDLERS: Record<string, Command> = {
  'session create': createSession,
  'session list': listSessions,
  'session show': showSession,
  'session watch': watchSession,
  'session continue': continueSession,
  'session delete': deleteSession,
  'project instances': projectInstances,
  'project reply': projectReply,
  'constraints put': putConstraint,
  'constraints get': getConstraint,
  'constraints delete': deleteConstraint,
};

/**
 * Runs one command line and answers its exit code: 0 done, 1 the API refused or could not be
 * reached (or a watched session failed), 2 a usage mistake. Every error is one line on stderr.
 */
/** The command words, read before parsing so that even a parse error can name the command's help. */
const commandOf = (argv: string[]): string | undefined => {
  const words: string[] = [];
  let skipNext = false;
  for (const arg of argv) {
    if (words.length === 2) break;
    if (skipNext) skipNext = false;
    else if (arg === '--url' || arg === '--token') skipNext = true;
    else if (!arg.startsWith('-')) words.push(arg);
  }
  const command = words[0] === 'token' ? 'token' : words.join(' ');
  return COMMANDS[command] ? command : undefined;
};

export const run = async (argv: string[], io: Io): Promise<number> => {
  let command = commandOf(argv);
  try {
    const args = parse(argv);
    const [first, second] = args.positionals;
    command = first === 'token' ? 'token' : first && second ? `${first} ${second}` : first;
    if (!first || first === 'help') {
      io.stdout(usage(args.positionals.slice(1).join(' ') || undefined));
      return first || args.values.help ? 0 : 2;
    }
    if (command === undefined || !COMMANDS[command]) {
      const known = first === 'session' || first === 'project' || first === 'constraints';
      throw new UsageError(
        known && !second ? `${first} needs a subcommand` : `unknown command: ${args.positionals.slice(0, 2).join(' ')}`,
      );
    }
    if (args.values.help) {
      io.stdout(usage(command));
      return 0;
    }
    if (command === 'token') return await token(args, io);

    const rawUrl = args.values.url ?? io.env.FENIX_URL ?? DEFAULT_URL;
    const url = parseBaseUrl(rawUrl);
    if (!url) throw new UsageError(`not an http(s) URL: ${rawUrl}`);
    const api = new Api(url, resolveAuth(url, args.values.token, io.env));
    const handler = command === undefined ? undefined : HANDLERS[command];
    if (!handler) throw new UsageError(`unknown command: ${command}`);
    return await handler({ args, api, json: Boolean(args.values.json), io });
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`fenix: ${error.message} (see fenix ${command && COMMANDS[command] ? `${command} ` : ''}--help)\n`);
      return 2;
    }
    if (error instanceof ApiError || error instanceof UnreachableError) {
      io.stderr(`fenix: ${error.message}\n`);
      return 1;
    }
    // A bug: still one line, but say where to look.
    io.stderr(
      `fenix: unexpected error: ${error instanceof Error ? error.message : String(error)}${io.env.FENIX_DEBUG ? `\n${(error as Error).stack}` : ' (FENIX_DEBUG=1 shows the stack)'}\n`,
    );
    return 1;
  }
};
