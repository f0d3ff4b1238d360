import { Badge, Box, Stack, Text, Title, Tooltip } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { useMemo } from 'react';
import { BASE, errorText, useApi } from './api';
import type { InvenTreePluginContext, TableColumn, TableFilter } from './inventree';
import { SILENCE_LIKE } from './Silences';
import { useTableState } from './tableState';

type Row = {
  pk: number;
  notification: string;
  category: string;
  channel: string;
  destination: string;
  status: string;
  attempts: number;
  last_error: string;
  resent: string;
  created: string;
  sent: string | null;
};

const STATUS_COLOR: Record<string, string> = {
  sent: 'green',
  pending: 'blue',
  sending: 'blue',
  failed: 'red',
  unknown: 'orange',
  skipped: 'gray',
  silenced: 'violet'
};

const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '-');

/** The delivery log in InvenTree's own table: sorting, filters, search, Resend for failed rows. */
export function DeliveryLogSection({ context }: { context: InvenTreePluginContext }) {
  const table = useTableState('notify-plus-deliveries');
  const { data } = useApi<{ destinations: { key: string }[] }>(context, `${BASE}health/`);

  const filters: TableFilter[] = useMemo(
    () => [
      {
        name: 'status',
        label: 'Status',
        description: 'Only deliveries with this status',
        type: 'choice',
        choices: ['pending', 'sending', 'sent', 'failed', 'skipped', 'unknown', 'silenced'].map(
          (s) => ({
            value: s,
            label: s
          })
        )
      },
      {
        name: 'channel',
        label: 'Channel',
        description: 'Email, Slack or Discord',
        type: 'choice',
        choices: ['email', 'slack', 'discord'].map((c) => ({ value: c, label: c }))
      },
      {
        name: 'destination',
        label: 'Destination',
        description: 'One configured Slack/Discord destination',
        type: 'choice',
        choices: (data?.destinations ?? []).map((d) => ({ value: d.key, label: d.key }))
      }
    ],
    [data]
  );

  const columns: TableColumn<Row>[] = useMemo(
    () => [
      { accessor: 'created', title: 'Created', sortable: true, render: (r) => when(r.created) },
      { accessor: 'notification', title: 'Notification', sortable: true },
      { accessor: 'category', title: 'Category', sortable: true },
      { accessor: 'channel', title: 'Channel', sortable: true },
      { accessor: 'destination', title: 'Destination', sortable: true },
      {
        accessor: 'status',
        title: 'Status',
        sortable: true,
        render: (r) => (
          <Badge color={STATUS_COLOR[r.status] ?? 'gray'} variant='light'>
            {r.status}
          </Badge>
        )
      },
      { accessor: 'attempts', title: 'Attempts', sortable: true },
      {
        accessor: 'last_error',
        title: 'Last error',
        render: (r) =>
          r.last_error ? (
            <Tooltip label={r.last_error} multiline w={400}>
              <Text size='xs' lineClamp={2}>
                {r.last_error}
              </Text>
            </Tooltip>
          ) : (
            '-'
          )
      },
      { accessor: 'sent', title: 'Sent', sortable: true, render: (r) => when(r.sent) },
      {
        accessor: 'resent',
        title: 'Resent',
        render: (r) =>
          r.resent ? (
            <Tooltip label={r.resent} multiline w={400}>
              <Text size='xs' lineClamp={2}>
                {r.resent}
              </Text>
            </Tooltip>
          ) : (
            '-'
          )
      }
    ],
    []
  );

  const resend = (row: Row) =>
    context.api
      .post(`${BASE}deliveries/${row.pk}/resend/`)
      .then(() => {
        notifications.show({
          title: 'Resend',
          message: `Delivery ${row.pk} is queued again (recorded in its 'Resent' column).`,
          color: 'green'
        });
        table.refreshTable();
      })
      .catch((e) => notifications.show({ title: 'Resend', message: errorText(e), color: 'red' }));

  return (
    <Stack gap='xs' data-testid='np-log'>
      <Title order={4}>Delivery log</Title>
      <Box maw='100%' style={{ overflowX: 'auto' }}>
        {context.tables?.renderTable({
          url: `${BASE}deliveries/`,
          tableState: table,
          columns,
          api: context.api,
          navigate: context.navigate,
          props: {
            enableSearch: true,
            enableFilters: true,
            enablePagination: true,
            enableRefresh: true,
            enableColumnSwitching: true,
            enableColumnCaching: false,
            enableDownload: false,
            enableSelection: false,
            noRecordsText: 'No deliveries yet',
            tableFilters: filters,
            rowActions: (row: Row) => [
              {
                title: 'Resend',
                tooltip: 'Queue this delivery again (check first that it did not arrive)',
                color: 'blue',
                hidden: !['failed', 'unknown'].includes(row.status),
                onClick: () => resend(row)
              },
              {
                title: 'Silence notices like this',
                tooltip: 'Create a silence pre-filled from this delivery',
                color: 'violet',
                onClick: () =>
                  window.dispatchEvent(new CustomEvent(SILENCE_LIKE, { detail: { pk: row.pk } }))
              }
            ]
          }
        }) ?? <Text c='red'>This InvenTree cannot render tables in plugins.</Text>}
      </Box>
    </Stack>
  );
}
