import type { Metadata } from 'next'
import Link from 'next/link'
import type { ReactNode } from 'react'
import { WalletProvider } from './_components/wallet'
import { readAppConfig } from './config'
import './globals.css'

export const metadata: Metadata = {
  title: 'Meshwork',
  description:
    'Browser-native volunteer compute: ONNX models run in volunteers’ tabs, verified by quorum, paid from escrow.',
}

export default function RootLayout({ children }: { children: ReactNode }) {
  const app = readAppConfig()
  return (
    <html lang="en">
      <body>
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
      </body>
    </html>
  )
}
