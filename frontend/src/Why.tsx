/** "Why?": did or didn't a user hear about a part, category, location or build, and why (explain/). */
import {
  Alert,
  Anchor,
  Badge,
  Button,
  Code,
  Group,
  List,
  Modal,
  Stack,
  Text,
  Timeline,
  Title
} from '@mantine/core';
import { useState } from 'react';
import { BASE, errorText } from './api';
import type { InvenTreePluginContext } from './inventree';

type Kind = 'part' | 'part_category' | 'location' | 'build';
type Reason = { code: string; text: string; link?: { delivery?: number; silence?: number } };
type Event = {
  at: string | null;
  type: string;
  title: string;
  text: string;
  status?: string;
  delivery?: number;
};
export type WhyAnswer = {
  user: { pk: number; username: string };
  object: { kind: Kind; pk: number; name: string; link: string };
  since: string;
  subscribed: boolean;
  via: { star: string; name: string; how?: string }[];
  can_view: boolean;
  consent: { email: boolean; by: string };
  switches_off: string[];
  email_mode: string | null;
  timeline: Event[];
  sent_to_user: boolean;
  reason: Reason | null;
  reasons: Reason[];
};

const KINDS: { kind: Kind; label: string; model: string; api_url: string }[] = [
  { kind: 'part', label: 'Part', model: 'part', api_url: '/api/part/' },
  {
    kind: 'part_category',
    label: 'Part category',
    model: 'partcategory',
    api_url: '/api/part/category/'
  },
  {
    kind: 'location',
    label: 'Stock location',
    model: 'stocklocation',
    api_url: '/api/stock/location/'
  },
  { kind: 'build', label: 'Build order', model: 'build', api_url: '/api/build/' }
];

/** Panel models (InvenTree's names) -> the explain endpoint's object parameter. */
export const PANEL_KIND: Record<string, Kind> = {
  part: 'part',
  partcategory: 'part_category',
  stocklocation: 'location',
  build: 'build'
};

const STATUS_COLOR: Record<string, string> = {
  sent: 'green',
  pending: 'blue',
  sending: 'blue',
  failed: 'red',
  unknown: 'orange',
  skipped: 'gray',
  silenced: 'grape'
};

function when(at: string | null): string {
  return at ? new Date(at).toLocaleString() : '';
}

/** The answer: who, through which star, consent, the first reason highlighted, then the timeline. */
export function WhyTimeline({ answer }: { answer: WhyAnswer }) {
  return (
    <Stack gap='sm' data-testid='np-why-answer'>
      <Text size='sm'>
        <b>{answer.user.username}</b> and <b>{answer.object.name}</b>, since {when(answer.since)}
      </Text>
      {answer.reason ? (
        <Alert color='orange' title='Why nothing reached them' data-testid='np-why-reason'>
          {answer.reason.text}
          {answer.reason.link?.delivery !== undefined && (
            <>
              {' '}
              (delivery <Code>#{answer.reason.link.delivery}</Code> in the delivery log)
            </>
          )}
          {answer.reasons.length > 1 && (
            <Text size='xs' c='dimmed' mt={4}>
              Also:{' '}
              {answer.reasons
                .slice(1)
                .map((r) => r.text)
                .join(' ')}
            </Text>
          )}
        </Alert>
      ) : (
        answer.sent_to_user && (
          <Alert color='green' data-testid='np-why-reason'>
            Their email was sent (see below).
          </Alert>
        )
      )}
      <Group gap='xs'>
        <Badge color={answer.subscribed ? 'green' : 'gray'}>
          {answer.subscribed ? 'subscribed' : 'not subscribed'}
        </Badge>
        <Badge color={answer.can_view ? 'green' : 'red'}>
          {answer.can_view ? 'may view it' : 'may not view it'}
        </Badge>
        <Badge color={answer.consent.email ? 'green' : 'gray'}>
          {answer.consent.email ? 'wants email' : 'no email'}
        </Badge>
      </Group>
      {answer.via.length > 0 && (
        <List size='sm'>
          {answer.via.map((v) => (
            <List.Item key={`${v.star}-${v.name}`}>
              through {v.star}
              {v.how === 'owner' ? ' (owner)' : ''}: {v.name}
            </List.Item>
          ))}
        </List>
      )}
      <Text size='xs' c='dimmed'>
        Email: {answer.consent.by}
        {answer.email_mode ? `; frequency ${answer.email_mode}` : ''}.
        {answer.switches_off.length > 0 && ` Switched off: ${answer.switches_off.join('; ')}.`}
      </Text>
      {answer.timeline.length === 0 ? (
        <Text size='sm'>Nothing happened about it in the last 30 days.</Text>
      ) : (
        <Timeline bulletSize={14} lineWidth={2} data-testid='np-why-timeline'>
          {answer.timeline.map((e, n) => (
            <Timeline.Item
              key={`${e.type}-${e.delivery ?? n}`}
              color={e.status ? (STATUS_COLOR[e.status] ?? 'gray') : 'blue'}
              title={
                <Group gap='xs'>
                  <Text size='sm' fw={500}>
                    {e.title}
                  </Text>
                  {e.status && (
                    <Badge size='xs' color={STATUS_COLOR[e.status] ?? 'gray'}>
                      {e.status}
                    </Badge>
                  )}
                </Group>
              }
            >
              <Text size='xs' c='dimmed'>
                {when(e.at)}
                {e.delivery !== undefined && ` · delivery #${e.delivery}`}
              </Text>
              <Text size='sm'>{e.text}</Text>
            </Timeline.Item>
          ))}
        </Timeline>
      )}
    </Stack>
  );
}

/** Admin console: pick a user and an object with InvenTree's search, read the timeline. */
export function WhySection({ context }: { context: InvenTreePluginContext }) {
  const [answer, setAnswer] = useState<WhyAnswer | null>(null);
  const forms = KINDS.map((k) =>
    context.forms.create({
      url: `${BASE}explain/`,
      method: 'POST',
      title: `Why? ${k.label}`,
      submitText: 'Explain',
      ignorePermissionCheck: true,
      successMessage: null,
      fields: {
        user: {
          name: 'user',
          field_type: 'related field',
          model: 'user',
          api_url: '/api/user/',
          label: 'User',
          description: 'Empty: yourself',
          required: false
        },
        [k.kind]: {
          name: k.kind,
          field_type: 'related field',
          model: k.model,
          api_url: k.api_url,
          label: k.label,
          required: true
        }
      },
      onFormSuccess: (data: WhyAnswer) => setAnswer(data)
    })
  );
  return (
    <Stack gap='xs' data-testid='np-why'>
      {forms.map((f, n) => (
        <div key={KINDS[n].kind}>{f.modal}</div>
      ))}
      <Title order={4}>Why?</Title>
      <Text size='sm' c='dimmed'>
        Did someone hear about something in the last 30 days, and if not, why not.
      </Text>
      <Group>
        {KINDS.map((k, n) => (
          <Button key={k.kind} variant='light' onClick={() => forms[n].open()}>
            {k.label}…
          </Button>
        ))}
      </Group>
      {answer && <WhyTimeline answer={answer} />}
    </Stack>
  );
}

/** A page panel's "Why didn't I hear about this?": the signed-in user's own timeline, in a modal. */
export function WhyButton({
  context,
  model,
  id
}: {
  context: InvenTreePluginContext;
  model: string;
  id: number | string;
}) {
  const [opened, setOpened] = useState(false);
  const [answer, setAnswer] = useState<WhyAnswer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const kind = PANEL_KIND[model];
  if (!kind) return null;
  const open = () => {
    setOpened(true);
    context.api
      .get(`${BASE}explain/`, { params: { [kind]: id } })
      .then((r) => {
        setAnswer(r.data);
        setError(null);
      })
      .catch((e) => setError(errorText(e)));
  };
  return (
    <>
      <Anchor component='button' size='sm' onClick={open} data-testid='np-why-link'>
        Why didn't I hear about this?
      </Anchor>
      <Modal opened={opened} onClose={() => setOpened(false)} title='Why?' size='xl'>
        {error && <Alert color='red'>{error}</Alert>}
        {!error && !answer && <Text>Loading…</Text>}
        {answer && <WhyTimeline answer={answer} />}
      </Modal>
    </>
  );
}
