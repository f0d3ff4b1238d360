import { Alert, Badge, Button, Group, Paper, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { BASE, errorText, useApi } from './api';
import type { InvenTreePluginContext } from './inventree';

type Health = {
  enabled: boolean;
  warnings: string[];
  outbox_ready: boolean;
  email_enabled: boolean;
  email: { notify_plus: number; inventree: number; no_email: number } | null;
  last_24h: Record<string, number> | null;
  inventree_slack?: {
    active: boolean;
    warning: string | null;
    deactivate_url: string;
    can_deactivate: boolean;
  };
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

/** InvenTree's own Slack method posts every notice a second time: deactivate it here. */
function DeactivateInvenTreeSlack({
  context,
  url,
  onDone
}: {
  context: InvenTreePluginContext;
  url: string;
  onDone: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState<string | null>(null);
  const deactivate = () => {
    setBusy(true);
    // InvenTree's own plugin API (superusers), as Settings > Plugins > Deactivate does.
    context.api
      .patch(url, { active: false })
      .then(() => {
        setFailed(null);
        onDone();
      })
      .catch((e) => setFailed(errorText(e)))
      .finally(() => setBusy(false));
  };
  return (
    <Stack gap={4} align='flex-start' mt='xs'>
      <Button size='xs' color='orange' loading={busy} onClick={deactivate}>
        Deactivate InvenTree's Slack method
      </Button>
      {failed && (
        <Text size='xs' c='red'>
          {failed}
        </Text>
      )}
    </Stack>
  );
}

/** Health at a glance: what is off and what that costs, email handover, the last 24 h. */
export function HealthSection({ context }: { context: InvenTreePluginContext }) {
  const { data, error, reload } = useApi<Health>(context, `${BASE}health/`);
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
          The master switch "Send notifications" is off: nobody gets notifications by email
          (InvenTree's own included), Slack or Discord; InvenTree's bell still shows them. To go
          back to InvenTree's own email, deactivate Notify Plus instead.
        </Alert>
      )}
      {data.warnings.map((w) => {
        const slack = data.inventree_slack;
        const isSlack = slack?.active && w === slack.warning;
        return (
          <Alert
            key={w}
            color={isSlack ? 'orange' : 'yellow'}
            title={isSlack ? 'Every notice is posted twice to Slack' : undefined}
            data-testid={isSlack ? 'np-inventree-slack' : undefined}
          >
            {w}
            {isSlack && slack.can_deactivate && (
              <DeactivateInvenTreeSlack
                context={context}
                url={slack.deactivate_url}
                onDone={reload}
              />
            )}
          </Alert>
        );
      })}
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
