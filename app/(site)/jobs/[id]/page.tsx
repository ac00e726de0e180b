import { JobPage } from '../../../_components/client-only'
import { NotConfigured } from '../../../_components/not-configured'
import { readAppConfig } from '../../../config'

export const dynamic = 'force-dynamic'

export default async function Page({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params
  const result = readAppConfig()
  if (!result.ok) return <NotConfigured missing={result.missing} />
  return <JobPage config={result.config} jobId={id} />
}
