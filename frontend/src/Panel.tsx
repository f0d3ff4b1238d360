import { Alert, Anchor, Badge, Button, Code, Group, List, Stack, Text, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { BASE, errorText, useApi } from './api';
import type { InvenTreePluginContext } from './inventree';
import { WhyButton } from './Why';

type Ref = { model: string; pk: number; name: string; link: string };
type Here = {
  object: Ref;
  subscribed: boolean;
  via: (Ref & { star: string; how?: string })[];
  routes: { route: number; categories: string[]; to: string[]; continue: boolean }[];
  default_destinations: string[];
  location_subscription?: boolean;
};

const NOUN: Record<string, string> = {
  part: 'part',
  partcategory: 'category',
  stocklocation: 'location'
};

function NotificationsPanel({ context }: { context: InvenTreePluginContext }) {
  const model = context.context?.model ?? context.model;
  const id = context.context?.id ?? context.id;
  const { data, error, reload } = useApi<Here>(context, `${BASE}here/?model=${model}&id=${id}`);

  const toggle = () => {
    const request = data?.location_subscription
      ? context.api.delete(`${BASE}locations/`, { data: { location: id } })
      : context.api.post(`${BASE}locations/`, { location: id });
    request
      .then(() => {
        notifications.show({
          title: 'Notify Plus',
          message: data?.location_subscription
            ? 'Unsubscribed from this location.'
            : 'Subscribed to this location.',
          color: 'green'
        });
        reload();
      })
      .catch((e) =>
        notifications.show({ title: 'Notify Plus', message: errorText(e), color: 'red' })
      );
  };

  if (error) return <Alert color='red'>{error}</Alert>;
  if (!data) return <Text>Loading…</Text>;
  const noun = NOUN[model] ?? 'object';
  return (
    <Stack gap='sm' data-testid='np-panel'>
      <Group>
        <Title order={5}>Your subscription</Title>
        <Badge color={data.subscribed ? 'green' : 'gray'} data-testid='np-subscribed'>
          {data.subscribed ? 'subscribed' : 'not subscribed'}
        </Badge>
        <WhyButton context={context} model={model} id={id} />
      </Group>
      {data.via.length > 0 ? (
        <List size='sm'>
          {data.via.map((v) => (
            <List.Item key={`${v.model}-${v.pk}-${v.star}`}>
              through {v.star}
              {v.how === 'owner' ? ' (you own it)' : ''}:{' '}
              <Anchor onClick={() => context.navigate(v.link)}>{v.name}</Anchor>
            </List.Item>
          ))}
        </List>
      ) : (
        <Text size='sm' c='dimmed'>
          {model === 'stocklocation'
            ? 'You do not hear about parts held here.'
            : `Star this ${noun} (or its ${model === 'part' ? 'category' : 'parent'}) to hear about it.`}
        </Text>
      )}
      {model === 'stocklocation' && (
        <Group>
          <Button
            size='xs'
            variant={data.location_subscription ? 'light' : 'filled'}
            onClick={toggle}
          >
            {data.location_subscription
              ? 'Unsubscribe from this location'
              : 'Subscribe to this location'}
          </Button>
          <Text size='xs' c='dimmed'>
            Low-stock notices of parts held here and in its sublocations.
          </Text>
        </Group>
      )}
      <Title order={5}>Where notices about this {noun} go</Title>
      {data.routes.length === 0 ? (
        <Text size='sm'>
          No route names it: the default destinations (
          {data.default_destinations.map((d) => (
            <Code key={d}>{d}</Code>
          ))}
          {data.default_destinations.length === 0 && 'none'}) and each subscriber's email.
        </Text>
      ) : (
        <List size='sm' data-testid='np-routes-here'>
          {data.routes.map((r) => (
            <List.Item key={r.route}>
              Route {r.route}: {r.categories.length ? r.categories.join(', ') : 'any notification'}{' '}
              →{' '}
              {r.to.map((t) => (
                <Code key={t}>{t}</Code>
              ))}
              {r.continue ? ' (continues)' : ''}
            </List.Item>
          ))}
          <List.Item>
            Otherwise: the default destinations; subscribers also get their own email.
          </List.Item>
        </List>
      )}
    </Stack>
  );
}

/** InvenTree calls this for the 'Notifications' panel on Part, Part category and Stock location pages. */
export function renderPanel(context: InvenTreePluginContext) {
  return <NotificationsPanel context={context} />;
}
