/**
 * State that survives `kill -9` (lib/store/disk-node.ts): a `meshwork submit` killed mid-job and
 * `meshwork resume`d, and a `meshwork volunteer` killed after its work whose claims `meshwork
 * claims` shows and `meshwork redeem` pays, with the requester long gone.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { type Hex, parseEther } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadModel } from '../../cli/submit'
import { creditedBalance, DEV_PRIVATE_KEYS, publicClientFor } from '../../lib/chain'
import { parseInputsJson } from '../../lib/proofs'
import { seededInputs } from '../../lib/runtime'
import { jobStatus } from '../../lib/sdk'
import { type NodeVolunteer, startNodeRequester, startNodeVolunteer } from '../../lib/sdk/node'
import { type Service, startService } from '../../scripts/lib/procs'
import { cliNetworkFlags, startVolunteerProcess } from '../../scripts/lib/stack'
import { startTestStack, type TestStack } from '../helpers/stack'

const ROOT = join(import.meta.dirname, '../..')
const TSX = join(ROOT, 'node_modules/.bin/tsx')
const CLI = join(ROOT, 'cli/meshwork.ts')

let stack: TestStack
const volunteers: NodeVolunteer[] = []
let net: string[]

beforeAll(async () => {
  stack = await startTestStack()
  const cfg = { ...stack.chain, relays: [stack.relay.multiaddr] }
  for (let i = 0; i < 2; i++) volunteers.push(await startNodeVolunteer(cfg))
  net = cliNetworkFlags(stack)
})

afterAll(async () => {
  await Promise.all(volunteers.map((v) => v.stop()))
  await stack?.stop()
})

const exec = promisify(execFile)

/** Runs `meshwork ARGS` to its end in `cwd`: exit code, stdout, stderr. */
const meshwork = (args: string[], cwd: string, timeout = 120_000) =>
  exec(TSX, [CLI, ...args], { cwd, timeout }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  )

describe('durable Node requester and volunteer', () => {
  it('a submit killed with SIGKILL mid-job is resumed: nothing accepted is lost, nothing paid twice', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'mw-durable-'))
    const dataDir = join(cwd, 'store')
    const tasks = 100
    let submit: Service | undefined
    let settledAtKill = 0
    submit = await startService({
      name: 'meshwork submit',
      command: TSX,
      args: [
        CLI,
        'submit',
        '--model',
        'mlp-16x4',
        '--tasks',
        String(tasks),
        '--replicas',
        '2',
        '--quorum',
        '2',
        '--canaries',
        '0',
        '--data-dir',
        dataDir,
        ...net,
      ],
      cwd,
      // Killed once a fair part of the job has settled, well before its end.
      ready: (line) => {
        const m = /^settled (\d+)\/(\d+)/.exec(line)
        if (!m || Number(m[1]) < 20) return false
        settledAtKill = Number(m[1])
        return true
      },
      timeoutMs: 120_000,
    })
    const jobId = /Job (0x[0-9a-f]{64}) created/.exec(submit.output())![1] as Hex
    const coordinator = /Its coordinator (0x[0-9a-fA-F]{40}) is kept/.exec(submit.output())![1]!
    const exited = new Promise((r) => submit!.proc.once('exit', r))
    process.kill(-submit.proc.pid!, 'SIGKILL')
    await exited
    submit = undefined
    expect(settledAtKill).toBeLessThan(tasks)
    // What was kept of the results before the kill (written at most once a second).
    const before = JSON.parse(readFileSync(join(cwd, '.meshwork/jobs', `${jobId}.json`), 'utf8'))
    const settledBefore = new Map<number, string>(
      before.tasks
        .filter((t: { status: string }) => t.status === 'settled')
        .map((t: { task: number; resultHash: string }) => [t.task, t.resultHash]),
    )
    expect(readdirSync(dataDir)).toContain(`${coordinator.toLowerCase()}.sqlite`)

    // Under a shorter limit than the test's, so that a hang (seen once in CI) shows resume's output
    // and what the volunteers were doing.
    const resumed = await meshwork(['resume', jobId, '--data-dir', dataDir, ...net], cwd, 150_000)
    const seen = () =>
      `resume exited ${resumed.code}; its stderr ends: ${resumed.stderr.slice(-4000)}\nvolunteers: ${JSON.stringify(
        volunteers.map((v) => v.worker.stats()),
        (_k, v) => (typeof v === 'bigint' ? v.toString() : v),
      )}`
    expect(resumed.stderr, seen()).toMatch(
      new RegExp(`Resumed job ${jobId} as coordinator ${coordinator}`),
    )
    expect(resumed.code, seen()).toBe(0)
    const after = JSON.parse(readFileSync(join(cwd, '.meshwork/jobs', `${jobId}.json`), 'utf8'))
    expect(after.tasks.filter((t: { status: string }) => t.status === 'settled')).toHaveLength(
      tasks,
    )
    // Every task settled before the kill kept its result.
    for (const [task, hash] of settledBefore) expect(after.tasks[task].resultHash).toBe(hash)
    // Paid on chain: exactly the agreeing results, each once (at most replicas per task).
    const status = await jobStatus(publicClientFor(stack.chain), stack.chain.contract, jobId)
    const paid = status.workers.reduce((n, w) => n + w.results, 0)
    const agreeing = after.tasks.reduce(
      (n: number, t: { agreeing: string[] }) => n + t.agreeing.length,
      0,
    )
    expect(paid).toBe(agreeing)
    expect(paid).toBeLessThanOrEqual(tasks * 2)
    expect(status.settled).toHaveLength(tasks)
  }, 300_000)

  it('a volunteer killed with SIGKILL keeps its claims: `meshwork claims` lists them, `meshwork redeem` pays them', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'mw-durable-'))
    const keyFile = join(cwd, 'volunteer.key')
    const key = generatePrivateKey()
    writeFileSync(keyFile, `${key}\n`)
    const worker = privateKeyToAccount(key).address
    const dataDir = join(cwd, 'store')
    const { service } = await startVolunteerProcess(stack, {
      name: 'meshwork volunteer',
      keyFile,
      dataDir,
    })
    // Only the process volunteer works on this job.
    for (const v of volunteers) v.worker.pause()
    // A requester that never redeems for its workers, and is gone when they redeem.
    const requester = await startNodeRequester(DEV_PRIVATE_KEYS[3]!, {
      ...stack.chain,
      relays: [stack.relay.multiaddr],
      finishOnChain: false,
    })
    const { model } = loadModel('mlp-16x4')
    const reward = parseEther('0.001')
    let jobId: Hex
    try {
      const job = await requester.submit({
        model,
        tasks: parseInputsJson(seededInputs(7, 12, { x: [1, 16] })),
        replicas: 1,
        quorum: 1,
        policy: { kind: 'round', digits: 3 },
        rewardPerResult: reward,
        durationSeconds: 3600,
        trust: 'high',
      })
      jobId = job.jobId
      await job.handle.done
      // The requester stays a moment, as `meshwork submit` does while it finishes: the worker
      // fetches the claim for its last results when it hears the job closed.
      await new Promise((r) => setTimeout(r, 3000))
    } finally {
      await requester.stop()
      for (const v of volunteers) v.worker.resume()
    }
    // Killed: no clean stop, no redemption on its way out (its key holds no ether anyway).
    process.kill(-service.proc.pid!, 'SIGKILL')
    await new Promise((r) => (service.proc.exitCode !== null ? r(0) : service.proc.once('exit', r)))

    const chainNet = net.slice(2)
    const claims = await meshwork(
      ['claims', '--json', '--key-file', keyFile, '--data-dir', dataDir, ...chainNet],
      cwd,
    )
    expect(claims.code).toBe(0)
    const listed = JSON.parse(claims.stdout)
    const claim = listed.claims.find((c: { jobId: string }) => c.jobId === jobId)
    expect(claim, `claims held: ${claims.stdout}`).toBeDefined()
    expect(claim.results).toBe(12)
    expect(claim.redeemed).toBe(0)
    expect(BigInt(claim.unredeemedWei)).toBe(BigInt(claim.results) * reward)

    // Gas from another key (the volunteer's own holds none); the pay is the volunteer's.
    const client = publicClientFor(stack.chain)
    const credited = await creditedBalance(client, stack.chain.contract, worker)
    const redeemArgs = [
      'redeem',
      '--key-file',
      keyFile,
      '--data-dir',
      dataDir,
      '--key',
      DEV_PRIVATE_KEYS[2]!,
      ...chainNet,
    ]
    const redeem = await meshwork(redeemArgs, cwd)
    expect(redeem.stderr).toMatch(/Redeemed \d+ claims/)
    expect(redeem.code).toBe(0)
    expect(await creditedBalance(client, stack.chain.contract, worker)).toBe(
      credited + BigInt(claim.results) * reward,
    )
    const again = await meshwork(redeemArgs, cwd)
    expect(again.stderr).toMatch(/Nothing to redeem/)
  })
})
