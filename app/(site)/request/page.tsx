import { RequestPage } from '../../_components/client-only'
import { NotConfigured } from '../../_components/not-configured'
import { readAppConfig } from '../../config'

export const dynamic = 'force-dynamic'

export default function Page() {
  const result = readAppConfig()
  if (!result.ok) return <NotConfigured missing={result.missing} />
  return <RequestPage config={result.config} />
}
