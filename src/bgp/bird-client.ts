/**
 * A client for BIRD's control socket (what `birdc` speaks). A unix socket is a file, so the same
 * client reaches a BIRD in any network namespace. Replies are lines `CCCC-text` (more follows),
 * ` text` (continuation) and `CCCC text` (last line); codes 8000 and above are errors.
 */
import { connect, type Socket } from 'node:net';

/** One reply of BIRD: its lines (as birdc prints them) and the code of the last line. */
export interface BirdReply {
  /** The final code (0 = OK; 8xxx runtime errors, 9xxx parse errors). */
  code: number;
  /** Every line's code, in order. */
  codes: number[];
  /** The text as birdc would print it (without codes). */
  text: string;
}

/** BIRD answered with an error code. */
export class BirdCommandError extends Error {
  readonly code: number;
  readonly reply: string;
  constructor(command: string, reply: BirdReply) {
    super(`birdc ${command}: ${reply.text.trim() || `error ${reply.code}`}`);
    this.name = 'BirdCommandError';
    this.code = reply.code;
    this.reply = reply.text;
  }
}

/** Options of {@link birdCommand}. */
export interface BirdCommandOptions {
  /** Give up after this many milliseconds (default 10000). */
  timeoutMs?: number;
  /** Resolve error replies instead of rejecting with {@link BirdCommandError}. */
  allowError?: boolean;
}

/** Reads complete replies off a socket. */
class ReplyReader {
  #buffer = '';
  #lines: string[] = [];
  #waiters: ((line: string | undefined) => void)[] = [];
  #ended = false;

  constructor(socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let nl: number;
      while ((nl = this.#buffer.indexOf('\n')) >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        const waiter = this.#waiters.shift();
        if (waiter) waiter(line);
        else this.#lines.push(line);
      }
    });
    const end = () => {
      this.#ended = true;
      for (const w of this.#waiters.splice(0)) w(undefined);
    };
    socket.on('end', end);
    socket.on('close', end);
  }

  nextLine(): Promise<string | undefined> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  async reply(): Promise<BirdReply> {
    const codes: number[] = [];
    const text: string[] = [];
    for (;;) {
      const line = await this.nextLine();
      if (line === undefined) throw new Error('BIRD closed the control connection');
      const m = /^(\d{4})([ -])(.*)$/.exec(line);
      if (m) {
        const code = Number(m[1]);
        codes.push(code);
        text.push(m[3]!);
        if (m[2] === ' ') return { code, codes, text: text.join('\n') + (text.length ? '\n' : '') };
      } else {
        text.push(line.startsWith(' ') ? line.slice(1) : line);
      }
    }
  }
}

/** An open control connection; send commands one after another, then close. */
export class BirdConnection {
  readonly #socket: Socket;
  readonly #reader: ReplyReader;
  /** BIRD's greeting (`BIRD 2.0.12 ready.`). */
  readonly banner: string;

  private constructor(socket: Socket, reader: ReplyReader, banner: string) {
    this.#socket = socket;
    this.#reader = reader;
    this.banner = banner;
  }

  /** Connects to the control socket at `path` and reads the greeting. */
  static open(path: string, timeoutMs = 10_000): Promise<BirdConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      const reader = new ReplyReader(socket);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`BIRD control socket ${path} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to the BIRD control socket ${path}: ${err.message}`, { cause: err }));
      });
      socket.once('connect', () => {
        reader.reply().then(
          (greeting) => {
            clearTimeout(timer);
            resolve(new BirdConnection(socket, reader, greeting.text.trim()));
          },
          (err: unknown) => {
            clearTimeout(timer);
            socket.destroy();
            reject(err as Error);
          },
        );
      });
    });
  }

  /** Sends one command and returns its reply. */
  async command(command: string, options: BirdCommandOptions = {}): Promise<BirdReply> {
    if (/[\n\r]/.test(command)) throw new Error('a BIRD command is one line');
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.#socket.write(`${command}\n`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const reply = await Promise.race([
        this.#reader.reply(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`BIRD did not answer "${command}" within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      if (reply.code >= 8000 && !options.allowError) throw new BirdCommandError(command, reply);
      return reply;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#socket.end();
    this.#socket.destroy();
  }
}

/** Opens the socket, runs one command, closes. */
export async function birdCommand(socketPath: string, command: string, options: BirdCommandOptions = {}): Promise<BirdReply> {
  const conn = await BirdConnection.open(socketPath, options.timeoutMs);
  try {
    return await conn.command(command, options);
  } finally {
    conn.close();
  }
}
