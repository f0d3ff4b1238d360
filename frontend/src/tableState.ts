/**
 * State for a table rendered by InvenTree's own table component (context.tables.renderTable).
 * InvenTree's lib offers `useTable` for this; we keep the same state shape (lib/types/Tables.tsx).
 */
import { useCallback, useMemo, useState } from 'react';
import type { TableFilter, TableState } from './inventree';

export function useTableState(tableKey: string): TableState {
  const [key, setKey] = useState(`${tableKey}-0`);
  const [isLoading, setIsLoading] = useState(false);
  const [activeFilters, setActiveFilters] = useState<TableFilter[]>([]);
  const [expandedRecords, setExpandedRecords] = useState<any[]>([]);
  const [selectedRecords, setSelectedRecords] = useState<any[]>([]);
  const [hiddenColumns, setHiddenColumns] = useState<string[]>([]);
  const [searchTerm, setSearchTerm] = useState('');
  const [recordCount, setRecordCount] = useState(0);
  const [page, setPage] = useState(1);
  const [records, setRecords] = useState<any[]>([]);

  const refreshTable = useCallback(() => {
    setKey(`${tableKey}-${Date.now()}`);
    setSelectedRecords([]);
  }, [tableKey]);

  const filterSet = useMemo(
    () => ({
      filterKey: tableKey,
      activeFilters,
      setActiveFilters,
      clearActiveFilters: () => setActiveFilters([]),
      savedFilterSets: [],
      saveFilterSet: () => {},
      loadFilterSet: () => {},
      deleteFilterSet: () => {}
    }),
    [tableKey, activeFilters]
  );

  return {
    tableKey: key,
    refreshTable,
    isLoading,
    setIsLoading,
    filterSet,
    expandedRecords,
    setExpandedRecords,
    isRowExpanded: (pk: number) => expandedRecords.includes(pk),
    selectedRecords,
    selectedIds: selectedRecords.map((r) => r.pk),
    hasSelectedRecords: selectedRecords.length > 0,
    setSelectedRecords,
    clearSelectedRecords: () => setSelectedRecords([]),
    hiddenColumns,
    setHiddenColumns,
    searchTerm,
    setSearchTerm,
    recordCount,
    setRecordCount,
    page,
    setPage,
    records,
    setRecords,
    updateRecord: (record: any) =>
      setRecords((rows) => rows.map((r) => (r.pk === record.pk ? record : r))),
    idAccessor: 'pk'
  };
}
