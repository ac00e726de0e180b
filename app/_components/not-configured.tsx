export function NotConfigured({ missing }: { missing: string[] }) {
  return (
    <div className="error">
      This app is not connected to a Meshwork network: {missing.join(', ')}{' '}
      {missing.length === 1 ? 'is' : 'are'} not set.
      {'\n'}Start everything with <code>npm start</code>, or set these variables for{' '}
      <code>next start</code>.
    </div>
  )
}
