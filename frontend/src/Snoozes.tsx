import { Alert, Button, Group, Stack, Text, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { BASE, errorText, useApi } from './api';
import type { InvenTreePluginContext } from './inventree';

type Snooze = { id: number; title: string; episode: string; until: string };

/** 'My notifications': what I snoozed from a message, until when, and Lift to end it early. */
export function MySnoozes({ context }: { context: InvenTreePluginContext }) {
  const { data, error, reload } = useApi<{ snoozes: Snooze[] }>(context, `${BASE}snoozes/`);
  const lift = (s: Snooze) =>
    context.api
      .delete(`${BASE}snoozes/${s.id}/`)
      .then(() => {
        notifications.show({
          title: 'Snooze lifted',
          message: `You will hear about ${s.title} again.`,
          color: 'green'
        });
        reload();
      })
      .catch((e) => notifications.show({ title: 'Snooze', message: errorText(e), color: 'red' }));
  return (
    <Stack gap={4} data-testid='np-snoozes'>
      <Title order={5}>My snoozes</Title>
      {error && <Alert color='red'>{error}</Alert>}
      {data && data.snoozes.length === 0 && (
        <Text size='sm' c='dimmed'>
          None. Every notice about low stock carries "Snooze 1 day" and "Snooze 1 week" links.
        </Text>
      )}
      {data?.snoozes.map((s) => (
        <Group key={s.id} gap='xs' data-testid={`np-snooze-${s.id}`}>
          <Text size='sm'>
            {s.title} — until {new Date(s.until).toLocaleString()}
          </Text>
          <Button size='compact-xs' variant='light' onClick={() => lift(s)}>
            Lift
          </Button>
        </Group>
      ))}
    </Stack>
  );
}
