/**
 * The part of InvenTree's plugin interface this plugin uses.
 *
 * InvenTree publishes these types as `@inventreedb/ui` (its source: src/frontend/lib in
 * InvenTree's repository). That package is not reachable from the package registry our builds
 * use, so the few declarations we rely on are restated here, with the same names and shapes
 * (InvenTree 1.5: lib/types/Plugins.tsx, Forms.tsx, Tables.tsx, Filters.tsx). Swap this file
 * for `import ... from '@inventreedb/ui'` where the package can be installed.
 */
import type { MantineTheme } from '@mantine/core';
import type { AxiosInstance } from 'axios';
import type { ReactNode } from 'react';

export type ApiFormFieldType = {
  name?: string; // InvenTree takes it from the endpoint's OPTIONS; given here as we skip those
  label?: string;
  value?: any;
  field_type?: 'related field' | 'string' | 'boolean' | 'choice' | 'integer';
  api_url?: string;
  model?: string;
  description?: string;
  required?: boolean;
  filters?: any;
  choices?: { value: any; display_name: string }[];
};

export type UseModalReturn = {
  open: () => void;
  close: () => void;
  toggle: () => void;
  modal: ReactNode;
};

export type ApiFormModalProps = {
  url: string;
  title: string;
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  fields?: Record<string, ApiFormFieldType>;
  initialData?: Record<string, any>;
  submitText?: string;
  successMessage?: string | null;
  ignorePermissionCheck?: boolean;
  fetchInitialData?: boolean;
  onFormSuccess?: (data: any) => void;
};

export type TableFilter = {
  name: string;
  label?: string;
  description?: string;
  type?: 'boolean' | 'choice' | 'date' | 'text' | 'api';
  choices?: { value: string; label: string }[];
};

export type RowAction = {
  title?: string;
  tooltip?: string;
  color?: string;
  icon?: ReactNode;
  onClick?: (event: any) => void;
  hidden?: boolean;
};

export type TableColumn<T = any> = {
  accessor: string;
  title?: string | ReactNode;
  sortable?: boolean;
  switchable?: boolean;
  render?: (record: T, index?: number) => any;
};

export type TableState = {
  refreshTable: (clearSelected?: boolean) => void;
  [key: string]: any;
};

export type InvenTreeTableProps<T = any> = {
  params?: any;
  defaultSortColumn?: string;
  noRecordsText?: string;
  enableDownload?: boolean;
  enableFilters?: boolean;
  enableSelection?: boolean;
  enableSearch?: boolean;
  enablePagination?: boolean;
  enableRefresh?: boolean;
  enableColumnSwitching?: boolean;
  enableColumnCaching?: boolean;
  tableFilters?: TableFilter[];
  rowActions?: (record: T) => RowAction[];
  minHeight?: number;
};

export type InvenTreePluginContext = {
  version: { inventree: string };
  api: AxiosInstance;
  user: {
    username: () => string;
    isStaff: () => boolean;
    isSuperuser: () => boolean;
  };
  navigate: (path: string) => void;
  theme: MantineTheme;
  forms: {
    create: (props: ApiFormModalProps) => UseModalReturn;
    edit: (props: ApiFormModalProps) => UseModalReturn;
  };
  tables: {
    renderTable: (props: {
      url?: string;
      tableState: TableState;
      columns: TableColumn[];
      props: InvenTreeTableProps;
      api: AxiosInstance;
      navigate: (path: string) => void;
    }) => ReactNode;
  };
  useTable?: never;
  model?: string;
  id?: string | number | null;
  instance?: any;
  reloadContent?: () => void;
  context?: any;
};
