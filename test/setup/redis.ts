// Starts one Redis for the whole run (Debian's `redis-server`, installed here
// when missing) on a free loopback port, and stops it afterwards. Tests that
// need it get its URL with inject('redisUrl'); it is never skipped: without
// Redis the run fails.
import { spawn, spawnSync } from 'node:child_process'
import { connect } from 'node:net'
import type { TestProject } from 'vitest/node'
import { startOnFreePort } from '../../src/db/embedded.js'
import { sharedSetup } from './shared.js'

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string
  }
}

const installed = () => spawnSync('redis-server', ['--version']).status === 0

function install (): void {
  if (process.getuid?.() !== 0) {
    throw new Error('redis-server is not installed and the tests do not run as root: `sudo apt-get install -y redis-server`')
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  for (const args of [['update'], ['install', '-y', '-o', 'DPkg::Lock::Timeout=300', 'redis-server']]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env })
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${String(r.status)}): Redis is required by the broker tests`)
  }
  if (!installed()) throw new Error('redis-server is still missing after apt-get install')
}

/** True when a Redis answers PING on this loopback port. */
export function ping (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.setTimeout(500)
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (d) => { socket.destroy(); resolve(d.toString().startsWith('+PONG')) })
    socket.on('error', () => resolve(false))
    socket.on('timeout', () => { socket.destroy(); resolve(false) })
  })
}

export default function setup (project: TestProject) {
  return sharedSetup(project, 'redis', async () => {
    if (!installed()) install()
    // Another free port when this one was taken between the probe and the start.
    const { port, child, exited } = await startOnFreePort((port) => startRedis(port))
    const stop = async () => {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
    }
    return { provide: { redisUrl: `redis://127.0.0.1:${port}` }, stop }
  })
}

async function startRedis (port: number) {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  const deadline = Date.now() + 10_000
  // Ours is ready when it says so and answers: a PONG alone may come from
  // whatever else took the port, while this one exits.
  while (!(output.includes('Ready to accept connections') && await ping(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`redis-server did not start on port ${port}: ${output}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return { port, child, exited }
}
