/**
 * Child processes for dev orchestration and tests: start, wait until ready, stop for sure.
 * Every service Meshwork starts locally goes through here, so Ctrl-C and test teardown stop
 * everything, and a busy port is reported with the flag that changes it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { ConfigError } from '../../lib/errors'

export interface Service {
  name: string
  proc: ChildProcess
  /** Everything the process printed so far (bounded), for error messages. */
  output(): string
  stop(): Promise<void>
}

export interface StartOptions {
  name: string
  command: string
  args: string[]
  env?: Record<string, string>
  cwd?: string
  /** Resolves once the service is ready; receives each output line. */
  ready: (line: string) => boolean
  timeoutMs?: number
  /** Echo output lines (prefixed with the name) to stderr. */
  echo?: boolean
}

export async function startService(opts: StartOptions): Promise<Service> {
  const proc = spawn(opts.command, opts.args, {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that stopping it also stops what it started (npm's anvil and
    // next shims are Node wrappers around the real process).
    detached: true,
  })
  let buffer = ''
  const lines: string[] = []
  const { promise, resolve, reject } = Promise.withResolvers<void>()
  let isReady = false
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString()
    let nl = buffer.indexOf('\n')
    while (nl >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      lines.push(line)
      if (lines.length > 400) lines.shift()
      if (opts.echo) process.stderr.write(`[${opts.name}] ${line}\n`)
      if (!isReady && opts.ready(line)) {
        isReady = true
        resolve()
      }
      nl = buffer.indexOf('\n')
    }
  }
  proc.stdout?.on('data', onData)
  proc.stderr?.on('data', onData)
  running.add(proc)
  proc.once('exit', () => running.delete(proc))
  proc.on('error', (err) => reject(err))
  proc.on('exit', (code, signal) => {
    if (!isReady)
      reject(
        new Error(
          `${opts.name} exited (${signal ?? code}) before it was ready:\n${lines.slice(-30).join('\n')}`,
        ),
      )
  })
  const timeout = setTimeout(
    () =>
      reject(
        new Error(
          `${opts.name} was not ready within ${opts.timeoutMs ?? 60_000} ms:\n${lines.slice(-30).join('\n')}`,
        ),
      ),
    opts.timeoutMs ?? 60_000,
  )
  const service: Service = {
    name: opts.name,
    proc,
    output: () => lines.join('\n'),
    stop: () => stopProcess(proc),
  }
  try {
    await promise
  } catch (err) {
    await service.stop()
    throw err
  } finally {
    clearTimeout(timeout)
  }
  return service
}

/** SIGTERM to the process group, then SIGKILL after 5 s. Resolves when the process has exited. */
export async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const signal = (sig: NodeJS.Signals) => {
    try {
      if (proc.pid) process.kill(-proc.pid, sig)
    } catch {
      proc.kill(sig)
    }
  }
  signal('SIGTERM')
  const timer = setTimeout(() => signal('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** Stops the service process groups if this process exits without stopping them itself. */
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const p of running) {
    try {
      if (p.pid) process.kill(-p.pid, 'SIGKILL')
    } catch {}
  }
})

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** Throws a ConfigError naming the port and how to change it when `port` is taken. */
export async function assertPortFree(
  port: number,
  what: string,
  howToChange: string,
): Promise<void> {
  const server = createServer()
  const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    server.once('error', (e: NodeJS.ErrnoException) => resolve(e))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(undefined)))
  })
  if (err) {
    throw new ConfigError(
      `Port ${port} for the ${what} is ${err.code === 'EADDRINUSE' ? 'already in use' : `unavailable (${err.code})`}.`,
      {
        hint: `Stop whatever uses it, or choose another port with ${howToChange}.`,
      },
    )
  }
}

/** Runs a command to completion; rejects with its last output lines when it exits non-zero. */
export async function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<void> {
  const proc = spawn(command, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString().split('\n'))
    if (lines.length > 200) lines.splice(0, lines.length - 200)
  }
  proc.stdout?.on('data', keep)
  proc.stderr?.on('data', keep)
  const code = await new Promise<number | null>((resolve, reject) => {
    proc.on('error', reject)
    proc.on('exit', (c) => resolve(c))
  })
  if (code !== 0)
    throw new Error(
      `${command} ${args.join(' ')} exited with ${code}:\n${lines.slice(-40).join('\n')}`,
    )
}
