import type { Metadata } from 'next'
import type { ReactNode } from 'react'
import './globals.css'

export const metadata: Metadata = {
  title: 'Meshwork',
  description:
    'Browser-native volunteer compute: ONNX models run in volunteers’ tabs, verified by quorum, paid from escrow.',
}

/** The document only: the site's pages add their header in (site)/layout.tsx; /embed has none. */
export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  )
}
