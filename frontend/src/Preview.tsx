import { Alert, Button, Code, Group, List, Select, Stack, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { BASE, errorText, useApi } from './api';
import type { InvenTreePluginContext } from './inventree';

type Target = { field: 'part' | 'part_category'; pk: number; name: string };
type Preview = {
  category: string;
  matching_routes: number[];
  deliveries: { channel: string; destination: string; mentions: string[]; due: string | null }[];
  recipients: string[];
  left_out?: string[];
};

/** What would happen: a part (or category) and a notification category -> routes, destinations, users. */
export function PreviewSection({ context }: { context: InvenTreePluginContext }) {
  const { data } = useApi<{ categories: { value: string; label: string }[] }>(
    context,
    `${BASE}routes/`
  );
  const [target, setTarget] = useState<Target | null>(null);
  const [category, setCategory] = useState<string | null>('part.notify_low_stock');
  const [answer, setAnswer] = useState<Preview | null>(null);
  const [error, setError] = useState<string | null>(null);

  const form = (field: 'part' | 'part_category') =>
    ({
      url: `${BASE}pick/`,
      method: 'POST',
      title: field === 'part' ? 'Pick a part' : 'Pick a part category',
      submitText: 'Pick',
      ignorePermissionCheck: true,
      successMessage: null,
      fields: {
        [field]: {
          name: field,
          field_type: 'related field',
          model: field === 'part' ? 'part' : 'partcategory',
          api_url: field === 'part' ? '/api/part/' : '/api/part/category/',
          label: field === 'part' ? 'Part' : 'Part category',
          required: true
        }
      },
      onFormSuccess: (d: Target) => {
        setTarget(d);
        setAnswer(null);
      }
    }) as const;
  const pickPart = context.forms.create(form('part'));
  const pickCategory = context.forms.create(form('part_category'));

  const run = () => {
    if (!target || !category) return;
    context.api
      .get(`${BASE}preview/`, { params: { [target.field]: target.pk, category } })
      .then((r) => {
        setAnswer(r.data);
        setError(null);
      })
      .catch((e) => setError(errorText(e)));
  };

  return (
    <Stack gap='xs' data-testid='np-preview'>
      {pickPart.modal}
      {pickCategory.modal}
      <Title order={4}>What would happen?</Title>
      <Group align='end'>
        <Button variant='light' onClick={() => pickPart.open()}>
          Pick a part
        </Button>
        <Button variant='light' onClick={() => pickCategory.open()}>
          or a category
        </Button>
        <Select
          label='Notification category'
          data={data?.categories ?? []}
          value={category}
          onChange={setCategory}
          searchable
          w={360}
        />
        <Button onClick={run} disabled={!target || !category}>
          Show
        </Button>
      </Group>
      {target && (
        <Text size='sm'>
          For <b>{target.name}</b>
        </Text>
      )}
      {error && <Alert color='red'>{error}</Alert>}
      {answer && (
        <Stack gap={4} data-testid='np-preview-answer'>
          <Text size='sm'>
            Matching routes:{' '}
            {answer.matching_routes.length
              ? answer.matching_routes.map((n) => `route ${n}`).join(', ')
              : 'none (default destinations)'}
          </Text>
          <Text size='sm'>Deliveries:</Text>
          <List size='sm'>
            {answer.deliveries.length === 0 && <List.Item>nothing would be sent</List.Item>}
            {answer.deliveries.map((d) => (
              <List.Item key={`${d.channel}-${d.destination}`}>
                <Code>{d.channel}</Code> {d.destination}
                {d.mentions.length > 0 && ` (mentions ${d.mentions.join(', ')})`}
              </List.Item>
            ))}
          </List>
          <Text size='sm'>Users: {answer.recipients.join(', ') || 'nobody subscribes'}</Text>
          {(answer.left_out?.length ?? 0) > 0 && (
            <Text size='sm' c='dimmed'>
              Left out, as InvenTree would: {answer.left_out?.join(', ')}
            </Text>
          )}
        </Stack>
      )}
    </Stack>
  );
}
