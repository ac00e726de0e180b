import Link from 'next/link'

export default function Home() {
  return (
    <>
      <h1>Meshwork</h1>
      <p>
        Open a tab, lend its compute. Meshwork runs ONNX models in volunteers’ browsers
        (WebAssembly, or WebGPU where it checks out), has several volunteers compute every task
        independently, accepts a result only when a quorum agrees, and pays the agreeing volunteers
        from an on-chain escrow the requester funded.
      </p>
      <div className="grid">
        <div className="card">
          <h2>Volunteer</h2>
          <p>Donate this tab’s compute. Nothing runs until you press Start.</p>
          <Link href="/volunteer">Open the volunteer page →</Link>
        </div>
        <div className="card">
          <h2>Request</h2>
          <p>Pay for a batch of inferences and download results that a quorum agreed on.</p>
          <Link href="/request">Submit a job →</Link>
        </div>
        <div className="card">
          <h2>Network</h2>
          <p>Relays, peers and jobs right now.</p>
          <Link href="/network">See the network →</Link>
        </div>
      </div>
    </>
  )
}
