import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisInstance, startRedis } from './index.js';
import { resolveMode } from './mode.js';

type Reply = string | number | null | Reply[];

/** Parses one RESP reply from `input` at `offset`; undefined while the reply is still incomplete. */
function parseReply(input: string, offset = 0): { value: Reply; next: number } | undefined {
  const end = input.indexOf('\r\n', offset);
  if (end < 0) return undefined;
  const line = input.slice(offset + 1, end);
  switch (input[offset]) {
    case '+':
      return { value: line, next: end + 2 };
    case '-':
      throw new Error(line);
    case ':':
      return { value: Number(line), next: end + 2 };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next: end + 2 };
      if (input.length < end + 2 + length + 2) return undefined;
      return { value: input.slice(end + 2, end + 2 + length), next: end + 2 + length + 2 };
    }
    case '*': {
      const items: Reply[] = [];
      let next = end + 2;
      for (let i = 0; i < Number(line); i++) {
        const item = parseReply(input, next);
        if (!item) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`unexpected RESP reply: ${JSON.stringify(input)}`);
  }
}

/** Sends one command over a raw socket, independent of the testkit's own readiness probe. */
function redis(port: number, ...args: string[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let input = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('timeout')));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    socket.on('data', (chunk: Buffer) => {
      input += chunk.toString('utf8');
      try {
        const reply = parseReply(input);
        if (!reply) return;
        socket.end();
        resolve(reply.value);
      } catch (error) {
        socket.destroy();
        reject(error);
      }
    });
  });
}

describe('startRedis', () => {
  let redisServer: RedisInstance;
  let local: boolean;

  beforeAll(async () => {
    local = (await resolveMode()) === 'local';
    redisServer = await startRedis();
  });

  afterAll(async () => {
    await redisServer?.destroy();
  });

  it('answers on a private port', async () => {
    if (local) expect(redisServer.host).toBe('127.0.0.1');
    expect(redisServer.port).not.toBe(6379);
    expect(redisServer.url).toBe(`redis://${redisServer.host}:${redisServer.port}`);
    expect(await redis(redisServer.port, 'PING')).toBe('PONG');
    expect(await redis(redisServer.port, 'SET', 'greeting', 'hello')).toBe('OK');
    expect(await redis(redisServer.port, 'GET', 'greeting')).toBe('hello');
  });

  it('stop() causes an outage that start() ends, on the same port', async () => {
    const port = redisServer.port;
    await redisServer.stop();
    await expect(redis(port, 'PING')).rejects.toThrow(/ECONNREFUSED/);

    await redisServer.start();
    expect(redisServer.port).toBe(port);
    expect(await redis(port, 'PING')).toBe('PONG');
  });

  it('crash() kills the server, and start() brings it back on the same port', async () => {
    const port = redisServer.port;
    await redisServer.crash();
    await expect(redis(port, 'PING')).rejects.toThrow(/ECONNREFUSED/);

    await redisServer.start();
    expect(redisServer.port).toBe(port);
    expect(await redis(port, 'PING')).toBe('PONG');
  });

  it('destroy() deletes the temp dir, stops the server and is idempotent', async () => {
    const other = await startRedis();
    expect(other.port).not.toBe(redisServer.port);
    const [, dir] = (await redis(other.port, 'CONFIG', 'GET', 'dir')) as [string, string];
    if (local) {
      expect(dir).toMatch(/flotilla-redis-/);
      expect(existsSync(dir)).toBe(true);
    }

    await other.destroy();
    await other.destroy();
    if (local) expect(existsSync(dir)).toBe(false);
    await expect(redis(other.port, 'PING')).rejects.toThrow(/ECONNREFUSED/);
    await expect(other.start()).rejects.toThrow(/destroyed/);
  });
});
