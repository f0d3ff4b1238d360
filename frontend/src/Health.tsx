import { Alert, Badge, Group, Paper, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { BASE, useApi } from './api';
import type { InvenTreePluginContext } from './inventree';

type Health = {
  enabled: boolean;
  warnings: string[];
  outbox_ready: boolean;
  email_enabled: boolean;
  email: { notify_plus: number; inventree: number; no_email: number } | null;
  last_24h: Record<string, number> | null;
};

const STATUS_COLOR: Record<string, string> = {
  sent: 'green',
  pending: 'blue',
  sending: 'blue',
  failed: 'red',
  unknown: 'orange',
  skipped: 'gray'
};

function Stat({ label, value, hint }: { label: string; value: number; hint: string }) {
  return (
    <Paper withBorder p='sm'>
      <Text size='xs' c='dimmed'>
        {label}
      </Text>
      <Text fw={700} size='xl'>
        {value}
      </Text>
      <Text size='xs'>{hint}</Text>
    </Paper>
  );
}

/** Health at a glance: what is off and what that costs, email handover, the last 24 h. */
export function HealthSection({ context }: { context: InvenTreePluginContext }) {
  const { data, error } = useApi<Health>(context, `${BASE}health/`);
  if (error)
    return (
      <Alert color='red' title='Health'>
        {error}
      </Alert>
    );
  if (!data) return <Text>Loading…</Text>;
  return (
    <Stack gap='xs' data-testid='np-health'>
      <Title order={4}>Health</Title>
      {!data.enabled && (
        <Alert color='red' title='Notify Plus sends nothing'>
          The master switch "Send notifications" is off.
        </Alert>
      )}
      {data.warnings.map((w) => (
        <Alert key={w} color='yellow'>
          {w}
        </Alert>
      ))}
      {data.enabled && data.warnings.length === 0 && (
        <Alert color='green'>All integrations Notify Plus needs are on; its tables exist.</Alert>
      )}
      {data.email && (
        <SimpleGrid cols={3}>
          <Stat
            label='Email by Notify Plus'
            value={data.email.notify_plus}
            hint={
              data.email_enabled ? 'one email each, own preferences' : 'email is off in Notify Plus'
            }
          />
          <Stat
            label="Kept InvenTree's email"
            value={data.email.inventree}
            hint="InvenTree's built-in email method reaches them"
          />
          <Stat label='No email' value={data.email.no_email} hint='chose no email at all' />
        </SimpleGrid>
      )}
      <Group gap='xs'>
        <Text size='sm'>Deliveries, last 24 h:</Text>
        {data.last_24h === null ? (
          <Text size='sm' c='dimmed'>
            no delivery log (app integration off)
          </Text>
        ) : (
          Object.entries(data.last_24h).map(([status, n]) => (
            <Badge key={status} color={STATUS_COLOR[status] ?? 'gray'} variant='light'>
              {status}: {n}
            </Badge>
          ))
        )}
      </Group>
    </Stack>
  );
}
