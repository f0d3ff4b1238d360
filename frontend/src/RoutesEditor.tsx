import {
  ActionIcon,
  Alert,
  Badge,
  Button,
  Group,
  MultiSelect,
  Paper,
  Stack,
  Switch,
  Text,
  Title,
  Tooltip
} from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useEffect, useRef, useState } from 'react';
import { BASE, errorText, SETTINGS, useApi } from './api';
import { DESTINATIONS_CHANGED } from './Destinations';
import type { InvenTreePluginContext } from './inventree';

export type RouteRow = {
  category: string[];
  part_category: number[];
  location: number[];
  to: string[];
  continue: boolean;
  uid?: number; // the editor's own row identity (the server ignores it)
};

type Names = { part_category: Record<number, string>; location: Record<number, string> };
type RoutesAnswer = {
  routes: RouteRow[];
  names: Names;
  categories: { value: string; label: string }[];
  destinations: { key: string; url: string }[];
  error: string | null;
};

const EMPTY: RouteRow = { category: [], part_category: [], location: [], to: [], continue: false };
let nextUid = 1;
const withUid = (row: RouteRow): RouteRow => ({ ...row, uid: nextUid++ });

function Chips({
  pks,
  names,
  onRemove,
  testid
}: {
  pks: number[];
  names: Record<number, string>;
  onRemove: (pk: number) => void;
  testid: string;
}) {
  return (
    <Group gap={4} data-testid={testid}>
      {pks.length === 0 && (
        <Text size='xs' c='dimmed'>
          any
        </Text>
      )}
      {pks.map((pk) => (
        <Badge
          key={pk}
          variant='light'
          rightSection={
            <ActionIcon
              size='xs'
              variant='transparent'
              onClick={() => onRemove(pk)}
              aria-label={`remove ${pk}`}
            >
              ×
            </ActionIcon>
          }
        >
          {names[pk] ?? `#${pk}`}
        </Badge>
      ))}
    </Group>
  );
}

/** Routes as rows: pick categories, part categories, locations and destinations; validated as you edit. */
export function RoutesEditorSection({ context }: { context: InvenTreePluginContext }) {
  const { data, error, reload } = useApi<RoutesAnswer>(context, `${BASE}routes/`);
  // A destination added in the Destinations section is offered at once, without reloading the
  // rows (that would drop unsaved edits): only the list of destinations is fetched again.
  const [added, setAdded] = useState<RoutesAnswer['destinations'] | null>(null);
  useEffect(() => {
    const refresh = () => {
      context.api
        .get(`${BASE}routes/`)
        .then((r) => setAdded(r.data.destinations))
        .catch(() => undefined);
    };
    window.addEventListener(DESTINATIONS_CHANGED, refresh);
    return () => window.removeEventListener(DESTINATIONS_CHANGED, refresh);
  }, [context.api]);
  const [rows, setRows] = useState<RouteRow[]>([]);
  const [names, setNames] = useState<Names>({ part_category: {}, location: {} });
  const [check, setCheck] = useState<{
    valid: boolean;
    error: string | null;
    value: string;
  } | null>(null);
  const [dirty, setDirty] = useState(false);
  const target = useRef(0);

  useEffect(() => {
    if (data) {
      setRows(data.routes.map(withUid));
      setNames(data.names);
      setDirty(false);
    }
  }, [data]);

  // Validate on every edit with the server's parse_routes (the validator saving runs).
  useEffect(() => {
    if (!dirty) return;
    const timer = setTimeout(() => {
      context.api
        .post(`${BASE}routes/`, { routes: rows })
        .then((r) => setCheck(r.data))
        .catch((e) => setCheck({ valid: false, error: errorText(e), value: '' }));
    }, 250);
    return () => clearTimeout(timer);
  }, [rows, dirty, context.api]);

  const change = (index: number, patch: Partial<RouteRow>) => {
    setRows((all) => all.map((r, i) => (i === index ? { ...r, ...patch } : r)));
    setDirty(true);
  };
  const move = (index: number, by: number) => {
    setRows((all) => {
      const next = [...all];
      const [row] = next.splice(index, 1);
      next.splice(index + by, 0, row);
      return next;
    });
    setDirty(true);
  };
  const remove = (index: number) => {
    setRows((all) => all.filter((_, i) => i !== index));
    setDirty(true);
  };

  const picked = (answer: { field: 'part_category' | 'location'; pk: number; name: string }) => {
    setNames((n) => ({ ...n, [answer.field]: { ...n[answer.field], [answer.pk]: answer.name } }));
    setRows((all) =>
      all.map((r, i) =>
        i === target.current && !r[answer.field].includes(answer.pk)
          ? { ...r, [answer.field]: [...r[answer.field], answer.pk] }
          : r
      )
    );
    setDirty(true);
  };

  // InvenTree's own related-model fields, in InvenTree's form modal.
  const pickCategory = context.forms.create({
    url: `${BASE}pick/`,
    method: 'POST',
    title: 'Add a part category',
    submitText: 'Add',
    ignorePermissionCheck: true,
    successMessage: null,
    fields: {
      part_category: {
        name: 'part_category',
        field_type: 'related field',
        model: 'partcategory',
        api_url: '/api/part/category/',
        label: 'Part category',
        description: 'Matches parts in this category and its subcategories',
        required: true
      }
    },
    onFormSuccess: picked
  });
  const pickLocation = context.forms.create({
    url: `${BASE}pick/`,
    method: 'POST',
    title: 'Add a stock location',
    submitText: 'Add',
    ignorePermissionCheck: true,
    successMessage: null,
    fields: {
      location: {
        name: 'location',
        field_type: 'related field',
        model: 'stocklocation',
        api_url: '/api/stock/location/',
        label: 'Stock location',
        description: 'Matches parts held in this location or its sublocations',
        required: true
      }
    },
    onFormSuccess: picked
  });

  const save = () => {
    if (!check) return;
    context.api
      .patch(`${SETTINGS}ROUTES/`, { value: check.value })
      .then(() => {
        notifications.show({ title: 'Routes', message: 'Routes saved.', color: 'green' });
        reload();
      })
      .catch((e) => setCheck({ valid: false, error: errorText(e), value: check.value }));
  };

  if (error) return <Alert color='red'>{error}</Alert>;
  if (!data) return <Text>Loading…</Text>;
  const destinations = (added ?? data.destinations).map((d) => ({ value: d.key, label: d.key }));

  return (
    <Stack gap='xs' data-testid='np-routes'>
      {pickCategory.modal}
      {pickLocation.modal}
      <Title order={4}>Routes</Title>
      <Text size='sm' c='dimmed'>
        Checked top to bottom; the first matching route decides unless "continue" is on. An empty
        criterion matches anything; notices no route matches go to the default destinations.
      </Text>
      {data.error && !dirty && (
        <Alert color='red' title='The stored routes are not valid (they are ignored until fixed)'>
          {data.error}
        </Alert>
      )}
      {rows.map((row, index) => (
        <Paper withBorder p='sm' key={row.uid} data-testid={`np-route-${index + 1}`}>
          <Group justify='space-between' mb='xs'>
            <Text fw={600}>Route {index + 1}</Text>
            <Group gap={4}>
              <Tooltip label='Move up'>
                <ActionIcon
                  variant='light'
                  disabled={index === 0}
                  onClick={() => move(index, -1)}
                  aria-label='Move up'
                >
                  ↑
                </ActionIcon>
              </Tooltip>
              <Tooltip label='Move down'>
                <ActionIcon
                  variant='light'
                  disabled={index === rows.length - 1}
                  onClick={() => move(index, 1)}
                  aria-label='Move down'
                >
                  ↓
                </ActionIcon>
              </Tooltip>
              <Tooltip label='Delete route'>
                <ActionIcon
                  variant='light'
                  color='red'
                  onClick={() => remove(index)}
                  aria-label='Delete route'
                >
                  ×
                </ActionIcon>
              </Tooltip>
            </Group>
          </Group>
          <Stack gap='xs'>
            <MultiSelect
              label='Notification categories'
              placeholder='any'
              data={data.categories}
              value={row.category}
              searchable
              onChange={(value) => change(index, { category: value })}
            />
            <Group gap='xs' align='center'>
              <Text size='sm' w={130}>
                Part categories
              </Text>
              <Chips
                pks={row.part_category}
                names={names.part_category}
                testid={`np-route-${index + 1}-categories`}
                onRemove={(pk) =>
                  change(index, { part_category: row.part_category.filter((p) => p !== pk) })
                }
              />
              <Button
                size='compact-xs'
                variant='subtle'
                onClick={() => {
                  target.current = index;
                  pickCategory.open();
                }}
              >
                + category
              </Button>
            </Group>
            <Group gap='xs' align='center'>
              <Text size='sm' w={130}>
                Stock locations
              </Text>
              <Chips
                pks={row.location}
                names={names.location}
                testid={`np-route-${index + 1}-locations`}
                onRemove={(pk) => change(index, { location: row.location.filter((p) => p !== pk) })}
              />
              <Button
                size='compact-xs'
                variant='subtle'
                onClick={() => {
                  target.current = index;
                  pickLocation.open();
                }}
              >
                + location
              </Button>
            </Group>
            <MultiSelect
              label='Send to'
              placeholder='pick destinations'
              data={destinations}
              value={row.to}
              onChange={(value) => change(index, { to: value })}
            />
            <Switch
              label='Continue: also check the routes below'
              checked={row.continue}
              onChange={(e) => change(index, { continue: e.currentTarget.checked })}
            />
          </Stack>
        </Paper>
      ))}
      <Group>
        {/* Not before the stored routes are in: they would replace a route added meanwhile. */}
        <Button
          variant='light'
          disabled={!data}
          onClick={() => {
            setRows((all) => [...all, withUid(EMPTY)]);
            setDirty(true);
          }}
        >
          Add route
        </Button>
        <Button onClick={save} disabled={!dirty || !check?.valid}>
          Save routes
        </Button>
        {dirty && check && (
          <Text size='sm' c={check.valid ? 'green' : 'red'} data-testid='np-routes-check'>
            {check.valid ? 'Valid: ready to save.' : check.error}
          </Text>
        )}
      </Group>
    </Stack>
  );
}
