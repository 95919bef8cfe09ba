// One colour per domain, fixed by the domain's position in the runs table, so a domain keeps its
// colour in every plot of a report. Twenty hues chosen for contrast on white: ten saturated ones
// first (enough for most corpora), then ten lighter or darker companions that stay distinct.

/** The categorical palette, in the order domains receive it (20 colours). */
export const DOMAIN_PALETTE: readonly string[] = [
  "#1f6fb4", "#e8771a", "#2b9c3f", "#d3302f", "#8c5fbf", "#8a5145", "#d86cba", "#6f6f6f", "#b5b020", "#19aec2",
  "#9ac2e6", "#f7b36e", "#8fd486", "#f28f8c", "#c3aedc", "#c89a8e", "#f1b7d6", "#bdbdbd", "#dedb8b", "#93d8e2",
];

/**
 * The colour of each domain, in domain order. Beyond 20 domains colours repeat (the report says so
 * in the runs section); domains keep their order, so the legend still tells them apart.
 * @param domains domain names in the runs table's column order
 * @returns one CSS colour per domain
 */
export function domainColors(domains: readonly string[]): string[] {
  return domains.map((_, i) => DOMAIN_PALETTE[i % DOMAIN_PALETTE.length]!);
}
