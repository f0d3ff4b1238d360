import {
  Alert,
  Anchor,
  Group,
  ScrollArea,
  Select,
  SimpleGrid,
  Stack,
  Switch,
  Text,
  TextInput,
  Title
} from '@mantine/core';
import { useEffect, useState } from 'react';
import { BASE, errorText, USER_SETTINGS, useApi } from './api';
import type { InvenTreePluginContext } from './inventree';
import { MySnoozes } from './Snoozes';

type Ref = { model: string; pk: number; name: string; link: string };
type Mine = { parts: Ref[]; categories: Ref[]; locations: Ref[]; settings: string[] };
type Setting = {
  key: string;
  name: string;
  description: string;
  value: string;
  type: string;
  choices: { value: string; display_name: string }[];
};

function Links({
  title,
  rows,
  context
}: {
  title: string;
  rows: Ref[];
  context: InvenTreePluginContext;
}) {
  return (
    <Stack gap={2}>
      <Text fw={600} size='sm'>
        {title}
      </Text>
      {rows.length === 0 && (
        <Text size='xs' c='dimmed'>
          none
        </Text>
      )}
      {rows.map((r) => (
        <Anchor key={r.pk} size='sm' onClick={() => context.navigate(r.link)}>
          {r.name}
        </Anchor>
      ))}
    </Stack>
  );
}

/** One choice, saved through InvenTree's user-settings API: its validator's error is shown as is. */
function Choice({ setting, context }: { setting: Setting; context: InvenTreePluginContext }) {
  const [value, setValue] = useState(setting.value ?? '');
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => setValue(setting.value ?? ''), [setting.value]);

  const save = (next: string | boolean) => {
    setSaved(false);
    context.api
      .patch(`${USER_SETTINGS}${setting.key}/`, { value: next })
      .then((r) => {
        setValue(String(r.data.value ?? next));
        setError(null);
        setSaved(true);
      })
      .catch((e) => setError(errorText(e)));
  };
  const label = setting.name.replace(/^Notify Plus: /, '');
  const common = {
    label,
    description: setting.description,
    error,
    'data-testid': `np-setting-${setting.key}`
  };
  if (setting.choices?.length) {
    return (
      <Select
        {...common}
        data={setting.choices.map((c) => ({ value: String(c.value), label: c.display_name }))}
        value={value}
        onChange={(v) => {
          if (v !== null) {
            setValue(v);
            save(v);
          }
        }}
        allowDeselect={false}
      />
    );
  }
  if (setting.type === 'boolean') {
    const on = ['true', '1', 'yes'].includes(String(value).toLowerCase());
    return <Switch {...common} checked={on} onChange={(e) => save(e.currentTarget.checked)} />;
  }
  return (
    <TextInput
      {...common}
      value={value}
      onChange={(e) => setValue(e.currentTarget.value)}
      onBlur={() => value !== setting.value && save(value)}
      onKeyDown={(e) => e.key === 'Enter' && save(value)}
      rightSection={saved ? '✓' : undefined}
    />
  );
}

function MyNotifications({ context }: { context: InvenTreePluginContext }) {
  const mine = useApi<Mine>(context, `${BASE}mine/`);
  const settings = useApi<Setting[]>(context, USER_SETTINGS);
  if (mine.error) return <Alert color='red'>{mine.error}</Alert>;
  if (!mine.data) return <Text>Loading…</Text>;
  const byKey = new Map((settings.data ?? []).map((s) => [s.key, s]));
  return (
    <ScrollArea.Autosize mah='100%' data-testid='np-mine'>
      <Stack gap='sm'>
        <Title order={5}>My subscriptions</Title>
        <SimpleGrid cols={3}>
          <Links title='Parts' rows={mine.data.parts} context={context} />
          <Links title='Part categories' rows={mine.data.categories} context={context} />
          <Links title='Stock locations' rows={mine.data.locations} context={context} />
        </SimpleGrid>
        <MySnoozes context={context} />
        <Title order={5}>My choices</Title>
        {settings.error && <Alert color='red'>{settings.error}</Alert>}
        <SimpleGrid cols={2}>
          {mine.data.settings
            .map((key) => byKey.get(key))
            .filter((s): s is Setting => !!s)
            .map((s) => (
              <Choice key={s.key} setting={s} context={context} />
            ))}
        </SimpleGrid>
        <Group>
          <Text size='xs' c='dimmed'>
            Star parts and categories on their pages; subscribe to stock locations on theirs.
          </Text>
        </Group>
      </Stack>
    </ScrollArea.Autosize>
  );
}

/** InvenTree calls this for the 'My notifications' dashboard item and user-settings panel. */
export function renderDashboardItem(context: InvenTreePluginContext) {
  return <MyNotifications context={context} />;
}
