import { Divider, Stack } from '@mantine/core';
import { DeliveryLogSection } from './DeliveryLog';
import { DestinationsSection } from './Destinations';
import { HealthSection } from './Health';
import type { InvenTreePluginContext } from './inventree';
import { PreviewSection } from './Preview';
import { RoutesEditorSection } from './RoutesEditor';
import { SilencesSection } from './Silences';
import { WhySection } from './Why';

function AdminConsole({ context }: { context: InvenTreePluginContext }) {
  return (
    <Stack
      gap='lg'
      // Size to the drawer, not to the widest table: wide tables scroll inside their own box.
      style={{ containerType: 'inline-size', width: '100%' }}
      data-testid='np-admin'
    >
      <HealthSection context={context} />
      <Divider />
      <DestinationsSection context={context} />
      <Divider />
      <DeliveryLogSection context={context} />
      <Divider />
      <SilencesSection context={context} />
      <Divider />
      <RoutesEditorSection context={context} />
      <Divider />
      <PreviewSection context={context} />
      <Divider />
      <WhySection context={context} />
    </Stack>
  );
}

/** InvenTree calls this for the plugin's settings page (ADMIN_SOURCE). */
export function renderPluginSettings(context: InvenTreePluginContext) {
  return <AdminConsole context={context} />;
}
