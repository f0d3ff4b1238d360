import { Alert, Button, Code, Stack, Table, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { BASE, errorText, useApi } from './api';
import type { InvenTreePluginContext } from './inventree';
import { WebhookSecret } from './WebhookSecret';

type Destination = { key: string; url: string };
type Answer = {
  outcome: string;
  status?: number | null;
  detail?: string;
  retry_after?: number | null;
  destination?: string;
};

/** The channel's answer in its own words: sent / retry after N s / permanent. */
export function describe(answer: Answer): string {
  const status = answer.status ? ` (HTTP ${answer.status})` : '';
  const detail = answer.detail ? `: ${answer.detail}` : '';
  if (answer.outcome === 'retry') {
    const after = answer.retry_after != null ? ` after ${answer.retry_after} s` : '';
    return `retry${after}${status}${detail}`;
  }
  return `${answer.outcome}${status}${detail}`;
}

function TestButton({
  context,
  channel,
  name
}: {
  context: InvenTreePluginContext;
  channel: string;
  name: string;
}) {
  const [answer, setAnswer] = useState<{ text: string; ok: boolean } | null>(null);
  const [busy, setBusy] = useState(false);
  const send = () => {
    setBusy(true);
    context.api
      .post(`${BASE}test/${channel}/`, { destination: name })
      .then((r) => setAnswer({ text: describe(r.data), ok: r.data.outcome === 'sent' }))
      .catch((e) => setAnswer({ text: e?.response?.data?.detail ?? errorText(e), ok: false }))
      .finally(() => setBusy(false));
  };
  return (
    <Stack gap={4} align='flex-start'>
      <Button
        size='xs'
        variant='light'
        loading={busy}
        onClick={send}
        aria-label={`Send test ${channel}:${name}`}
      >
        Send test
      </Button>
      {answer && (
        <Text
          size='xs'
          c={answer.ok ? 'green' : 'red'}
          data-testid={`np-answer-${channel}-${name}`}
        >
          {answer.text}
        </Text>
      )}
    </Stack>
  );
}

/** Every configured Slack/Discord destination (masked), and the admin's own email, with a test send. */
export function DestinationsSection({ context }: { context: InvenTreePluginContext }) {
  const { data, error } = useApi<{ destinations: Destination[] }>(context, `${BASE}health/`);
  if (error) return <Alert color='red'>{error}</Alert>;
  const rows = data?.destinations ?? [];
  return (
    <Stack gap='xs' data-testid='np-destinations'>
      <Title order={4}>Destinations</Title>
      {rows.length === 0 && (
        <Text size='sm' c='dimmed'>
          No Slack or Discord destination is configured (settings below).
        </Text>
      )}
      <Table withTableBorder striped>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Destination</Table.Th>
            <Table.Th>Webhook (masked)</Table.Th>
            <Table.Th>Test</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((d) => {
            const [channel, name] = d.key.split(':');
            return (
              <Table.Tr key={d.key}>
                <Table.Td>
                  <Code>{d.key}</Code>
                </Table.Td>
                <Table.Td>
                  <Text size='sm'>{d.url}</Text>
                </Table.Td>
                <Table.Td>
                  <TestButton context={context} channel={channel} name={name} />
                </Table.Td>
              </Table.Tr>
            );
          })}
          <Table.Tr>
            <Table.Td>
              <Code>email</Code>
            </Table.Td>
            <Table.Td>
              <Text size='sm'>your own address</Text>
            </Table.Td>
            <Table.Td>
              <TestButton context={context} channel='email' name='me' />
            </Table.Td>
          </Table.Tr>
        </Table.Tbody>
      </Table>
      <WebhookSecret context={context} />
    </Stack>
  );
}
