import { Alert, Button, Code, CopyButton, Group, Stack, Text } from '@mantine/core';
import { useState } from 'react';
import { BASE, errorText, useApi } from './api';
import type { InvenTreePluginContext } from './inventree';

type SecretState = { set: boolean; webhooks: { key: string; url: string }[] };
type Generated = { secret: string; replaced: boolean; note: string };

/**
 * Signed webhooks: generate the Standard Webhooks signing secret (whsec_…). The server stores it
 * in the protected setting WEBHOOK_SECRET and answers it this once, so the admin can copy it into
 * each receiver; it is never shown again.
 */
export function WebhookSecret({ context }: { context: InvenTreePluginContext }) {
  const url = `${BASE}admin/webhook-secret/`;
  const { data, error, reload } = useApi<SecretState>(context, url);
  const [generated, setGenerated] = useState<Generated | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Replacing breaks every receiver until it has the new secret: the first click only asks.
  const [armed, setArmed] = useState(false);
  const generate = () => {
    if (data?.set && !armed) {
      setArmed(true);
      return;
    }
    setArmed(false);
    setBusy(true);
    setFailure(null);
    context.api
      .post(url, {})
      .then((r) => {
        setGenerated(r.data as Generated);
        reload();
      })
      .catch((e) => setFailure(errorText(e)))
      .finally(() => setBusy(false));
  };
  if (error) return <Alert color='red'>{error}</Alert>;
  return (
    <Stack gap={4} data-testid='np-webhook-secret'>
      <Group gap='xs'>
        <Text size='sm'>
          Webhook signing secret:{' '}
          {data ? (data.set ? 'set' : 'not set (webhooks are not sent)') : '…'}
        </Text>
        <Button size='xs' variant='light' loading={busy} onClick={generate}>
          {!data?.set ? 'Generate secret' : armed ? 'Click again to replace it' : 'Replace secret'}
        </Button>
      </Group>
      {failure && (
        <Text size='xs' c='red'>
          {failure}
        </Text>
      )}
      {generated && (
        <Alert color='yellow' title='Copy the secret now: it is shown once'>
          <Group gap='xs'>
            <Code data-testid='np-webhook-secret-value'>{generated.secret}</Code>
            <CopyButton value={generated.secret}>
              {({ copied, copy }) => (
                <Button size='xs' variant='subtle' onClick={copy}>
                  {copied ? 'Copied' : 'Copy'}
                </Button>
              )}
            </CopyButton>
          </Group>
          <Text size='xs'>{generated.note}</Text>
        </Alert>
      )}
    </Stack>
  );
}
