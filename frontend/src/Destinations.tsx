import {
  Alert,
  Button,
  Code,
  Group,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Title
} from '@mantine/core';
import { useEffect, useState } from 'react';
import { BASE, errorText, useApi } from './api';
import type { InvenTreePluginContext } from './inventree';
import { WebhookSecret } from './WebhookSecret';

type Destination = { key: string; url: string; kind?: string; name?: string };
type Kind = { kind: string; label: string; setting: string; example: string };
type Check = { valid: boolean; field: string | null; error: string | null };

/** Sent when a destination was added, so the routes editor offers it at once. */
export const DESTINATIONS_CHANGED = 'np-destinations-changed';
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

/**
 * Add a named destination: kind, name and URL, checked by the server as you type (for Apprise
 * with Apprise's own URL parser), then appended to the kind's setting (validated again on save).
 */
function AddDestination({
  context,
  onAdded
}: {
  context: InvenTreePluginContext;
  onAdded: (key: string) => void;
}) {
  const { data } = useApi<{ kinds: Kind[] }>(context, `${BASE}admin/destinations/kinds/`);
  const kinds = data?.kinds ?? [];
  const [kind, setKind] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [check, setCheck] = useState<Check | null>(null);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const chosen = kind ?? kinds[0]?.kind ?? null;
  const example = kinds.find((k) => k.kind === chosen)?.example ?? '';

  // Debounced: one check 300 ms after the last keystroke, with what the admin typed last.
  useEffect(() => {
    if (!chosen || (!name && !url)) {
      setCheck(null);
      return;
    }
    let live = true;
    const timer = setTimeout(() => {
      context.api
        .post(`${BASE}admin/destinations/validate/`, { kind: chosen, name, url })
        .then((r) => live && setCheck(r.data))
        .catch((e) => live && setCheck({ valid: false, field: null, error: errorText(e) }));
    }, 300);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [chosen, name, url, context.api]);

  const save = () => {
    setSaving(true);
    context.api
      .post(`${BASE}admin/destinations/`, { kind: chosen, name, url })
      .then((r) => {
        setSaved(`Added ${r.data.key} (${r.data.url})`);
        setName('');
        setUrl('');
        setCheck(null);
        onAdded(r.data.key);
      })
      .catch((e) =>
        setCheck({
          valid: false,
          field: e?.response?.data?.field ?? null,
          error: errorText(e)
        })
      )
      .finally(() => setSaving(false));
  };
  const fieldError = (field: string) =>
    check && !check.valid && check.field === field ? check.error : null;

  return (
    <Stack gap='xs' data-testid='np-add-destination'>
      <Title order={5}>Add destination</Title>
      <Group align='flex-start' wrap='wrap'>
        <Select
          label='Kind'
          data={kinds.map((k) => ({ value: k.kind, label: k.label }))}
          value={chosen}
          onChange={(v) => setKind(v)}
          allowDeselect={false}
          error={fieldError('kind')}
          aria-label='Destination kind'
          w={260}
        />
        <TextInput
          label='Name'
          placeholder='phones'
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={fieldError('name')}
          aria-label='Destination name'
          w={160}
        />
        <TextInput
          label='URL'
          placeholder={example}
          value={url}
          onChange={(e) => setUrl(e.currentTarget.value)}
          error={fieldError('url')}
          aria-label='Destination URL'
          style={{ flex: 1, minWidth: 260 }}
          autoComplete='off'
        />
      </Group>
      {check && !check.valid && check.field === null && (
        <Text size='xs' c='red'>
          {check.error}
        </Text>
      )}
      <Group>
        <Button
          size='xs'
          onClick={save}
          loading={saving}
          disabled={!check?.valid}
          aria-label='Save destination'
        >
          Save destination
        </Button>
        {check?.valid && (
          <Text size='xs' c='green' data-testid='np-add-valid'>
            Looks good.
          </Text>
        )}
        {saved && (
          <Text size='xs' c='green' data-testid='np-add-saved'>
            {saved}
          </Text>
        )}
      </Group>
    </Stack>
  );
}

/** Every configured destination of every kind (masked), the admin's own email, each with a test send. */
export function DestinationsSection({ context }: { context: InvenTreePluginContext }) {
  const { data, error, reload } = useApi<{ destinations: Destination[] }>(
    context,
    `${BASE}health/`
  );
  const added = () => {
    reload();
    window.dispatchEvent(new Event(DESTINATIONS_CHANGED));
  };
  if (error) return <Alert color='red'>{error}</Alert>;
  const rows = data?.destinations ?? [];
  return (
    <Stack gap='xs' data-testid='np-destinations'>
      <Title order={4}>Destinations</Title>
      {rows.length === 0 && (
        <Text size='sm' c='dimmed'>
          No Slack, Discord or Apprise destination is configured yet (add one below).
        </Text>
      )}
      <Table withTableBorder striped>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Destination</Table.Th>
            <Table.Th>Kind</Table.Th>
            <Table.Th>URL (masked)</Table.Th>
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
                  <Text size='sm'>{d.kind ?? channel}</Text>
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
              <Text size='sm'>email</Text>
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
      <AddDestination context={context} onAdded={added} />
    </Stack>
  );
}
