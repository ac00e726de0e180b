import Link from 'next/link'
import type { ReactNode } from 'react'
import { WalletProvider } from '../_components/wallet'
import { readAppConfig } from '../config'

export default function SiteLayout({ children }: { children: ReactNode }) {
  const app = readAppConfig()
  return (
    <>
      <header className="site">
        <Link href="/" className="brand">
          Meshwork
        </Link>
        <Link href="/volunteer">Volunteer</Link>
        <Link href="/request">Request</Link>
        <Link href="/network">Network</Link>
      </header>
      <main>
        {app.ok ? <WalletProvider config={app.config}>{children}</WalletProvider> : children}
      </main>
    </>
  )
}
