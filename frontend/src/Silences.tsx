import { Alert, Badge, Box, Button, Group, Stack, Table, Text, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useEffect, useRef, useState } from 'react';
import { BASE, errorText, useApi } from './api';
import type { InvenTreePluginContext } from './inventree';

type Silence = {
  id: number;
  state: 'active' | 'pending' | 'expired';
  part: number | null;
  part_name: string;
  part_category: number | null;
  part_category_name: string;
  location: number | null;
  location_name: string;
  category: string;
  destination: string;
  starts: string;
  ends: string;
  comment: string;
  author: string;
  held: number;
};

type Listing = { active: Silence[]; pending: Silence[]; expired: Silence[] };
type Choices = {
  categories: { value: string; label: string }[];
  destinations: { key: string }[];
};

/** The delivery log asks for a silence like one of its rows with this window event. */
export const SILENCE_LIKE = 'notify-plus:silence-like';

const STATE_COLOR = { active: 'orange', pending: 'blue', expired: 'gray' };
const DURATIONS = [
  ['1h', '1 hour'],
  ['4h', '4 hours'],
  ['1d', '1 day'],
  ['3d', '3 days'],
  ['1w', '1 week'],
  ['2w', '2 weeks']
];

const when = (iso: string) => new Date(iso).toLocaleString();

function matches(s: Silence): string {
  const parts = [
    s.part && `part ${s.part_name || s.part}`,
    s.part_category && `category ${s.part_category_name || s.part_category} (and below)`,
    s.location && `location ${s.location_name || s.location} (and below)`,
    s.category && `notification ${s.category}`,
    s.destination && `destination ${s.destination}`
  ];
  return parts.filter(Boolean).join(' · ');
}

/** Silences: hold matching notices for a while; when one ends, what is still true goes out once. */
export function SilencesSection({ context }: { context: InvenTreePluginContext }) {
  const { data, error, reload } = useApi<Listing>(context, `${BASE}silences/`);
  const choices = useApi<Choices>(context, `${BASE}routes/`);
  const [initial, setInitial] = useState<Record<string, any>>({ duration: '4h' });
  const [opening, setOpening] = useState(0);

  const create = context.forms.create({
    url: `${BASE}silences/`,
    method: 'POST',
    title: 'New silence',
    submitText: 'Silence',
    ignorePermissionCheck: true,
    successMessage: 'Silence created: matching notices are held until it ends.',
    initialData: initial,
    fields: {
      part: {
        name: 'part',
        field_type: 'related field',
        model: 'part',
        api_url: '/api/part/',
        label: 'Part',
        description: 'Only notices about this part'
      },
      part_category: {
        name: 'part_category',
        field_type: 'related field',
        model: 'partcategory',
        api_url: '/api/part/category/',
        label: 'Part category',
        description: 'Parts in this category and its subcategories'
      },
      location: {
        name: 'location',
        field_type: 'related field',
        model: 'stocklocation',
        api_url: '/api/stock/location/',
        label: 'Stock location',
        description: 'Stock in this location and its sublocations'
      },
      category: {
        name: 'category',
        field_type: 'choice',
        label: 'Notification category',
        choices: (choices.data?.categories ?? []).map((c) => ({
          value: c.value,
          display_name: c.label
        }))
      },
      destination: {
        name: 'destination',
        field_type: 'choice',
        label: 'Destination',
        description: 'Only this Slack/Discord destination',
        choices: (choices.data?.destinations ?? []).map((d) => ({
          value: d.key,
          display_name: d.key
        }))
      },
      duration: {
        name: 'duration',
        field_type: 'choice',
        label: 'For',
        required: true,
        choices: DURATIONS.map(([value, display_name]) => ({ value, display_name }))
      },
      comment: {
        name: 'comment',
        field_type: 'string',
        label: 'Comment',
        description: 'Why (shown to other admins)'
      }
    },
    onFormSuccess: () => reload()
  });

  // "Silence notices like this" from a delivery-log row: pre-fill the form from that delivery.
  useEffect(() => {
    const like = (event: Event) => {
      const pk = (event as CustomEvent<{ pk: number }>).detail?.pk;
      context.api
        .get(`${BASE}silences/suggest/`, { params: { delivery: pk } })
        .then((answer) => {
          const { starts: _s, ends: _e, ...fields } = answer.data;
          setInitial({ ...fields, duration: '4h' });
          setOpening((n) => n + 1);
        })
        .catch((e) =>
          notifications.show({ title: 'Silence', message: errorText(e), color: 'red' })
        );
    };
    window.addEventListener(SILENCE_LIKE, like);
    return () => window.removeEventListener(SILENCE_LIKE, like);
  }, [context.api]);
  // Open once per request (the modal's open function changes with every render).
  const openModal = useRef(create.open);
  openModal.current = create.open;
  useEffect(() => {
    if (opening) openModal.current();
  }, [opening]);

  const expire = (s: Silence) =>
    context.api
      .delete(`${BASE}silences/${s.id}/`)
      .then((answer) => {
        notifications.show({
          title: 'Silence expired',
          message: `Silence ${s.id} ended: ${answer.data.announced} held notice(s) still true go out now.`,
          color: 'green'
        });
        reload();
      })
      .catch((e) => notifications.show({ title: 'Silence', message: errorText(e), color: 'red' }));

  const rows = data ? [...data.active, ...data.pending, ...data.expired] : [];
  return (
    <Stack gap='xs' data-testid='np-silences'>
      {create.modal}
      <Group justify='space-between'>
        <Title order={4}>Silences</Title>
        <Button
          size='xs'
          data-testid='np-silence-new'
          onClick={() => {
            setInitial({ duration: '4h' });
            setOpening((n) => n + 1);
          }}
        >
          New silence
        </Button>
      </Group>
      <Text size='xs' c='dimmed'>
        While a silence lasts, matching notices are held (delivery log: silenced). When it ends,
        what is still true is announced once; a part that recovered meanwhile is not. Expired
        silences stay listed for 7 days.
      </Text>
      {error && <Alert color='red'>{error}</Alert>}
      {data && rows.length === 0 && <Text size='sm'>No silences.</Text>}
      {rows.length > 0 && (
        <Box maw='100%' style={{ overflowX: 'auto' }}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>State</Table.Th>
                <Table.Th>Matches</Table.Th>
                <Table.Th>From</Table.Th>
                <Table.Th>Until</Table.Th>
                <Table.Th>By</Table.Th>
                <Table.Th>Comment</Table.Th>
                <Table.Th>Held</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((s) => (
                <Table.Tr key={s.id} data-testid={`np-silence-${s.id}`}>
                  <Table.Td miw={90}>
                    <Badge color={STATE_COLOR[s.state]} variant='light'>
                      {s.state}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{matches(s)}</Table.Td>
                  <Table.Td>{when(s.starts)}</Table.Td>
                  <Table.Td>{when(s.ends)}</Table.Td>
                  <Table.Td>{s.author || '-'}</Table.Td>
                  <Table.Td>{s.comment || '-'}</Table.Td>
                  <Table.Td>{s.held}</Table.Td>
                  <Table.Td>
                    {s.state !== 'expired' && (
                      <Button
                        size='compact-xs'
                        color='red'
                        variant='light'
                        onClick={() => expire(s)}
                      >
                        Expire
                      </Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Box>
      )}
    </Stack>
  );
}
