/**
 * The fixed part of the table (Felix's static rules, `rules/static.go`): the base chains hooked
 * into the kernel, the dispatch and failsafe chains, NAT outgoing with its pool sets, and the set
 * of protocols that have ports. It depends only on the settings and on which wildcard host
 * endpoint chains exist, so it is rendered again only when one of those changes.
 */
import type { DataplaneUpdate } from '../../calc/mod.ts';
import type { Manager } from '../manager.ts';
import { natSetName, setFlags, setType } from './names.ts';
import { renderStaticChains, type WildcardChains } from './render-chains.ts';
import { PORT_PROTOCOLS_SET } from './render-rules.ts';
import { setElements } from './ipsets-manager.ts';
import type { NftTable } from './table.ts';

/** Renders the fixed chains and sets into the table. */
export class StaticChainsManager implements Manager {
  readonly #table: NftTable;
  readonly #wildcard: () => WildcardChains;
  #dirty = true;
  #setsDirty = true;
  #renderedSets = new Set<string>();

  /** `wildcard` tells which wildcard host endpoint chains exist (the endpoint manager knows). */
  constructor(table: NftTable, wildcard: () => WildcardChains) {
    this.#table = table;
    this.#wildcard = wildcard;
  }

  /** Settings come through the nftables manager, which calls {@link markDirty}. */
  onUpdate(_u: DataplaneUpdate): void {}

  /** The settings changed: the fixed sets and chains are rendered again. */
  markDirty(): void {
    this.#dirty = true;
    this.#setsDirty = true;
  }

  /** The wildcard host endpoint chains changed: the fixed chains are rendered again (the sets do not depend on them). */
  markChainsDirty(): void {
    this.#dirty = true;
  }

  /**
   * Renders the fixed sets only (they depend on the settings alone): before the policies, whose
   * rules may use them, so that a cold start's load ahead of the policies finds them (load-ahead.ts).
   */
  completeSets(): void {
    if (!this.#setsDirty) return;
    this.#setsDirty = false;
    const table = this.#table;
    const sets = new Set<string>();
    for (const family of table.families()) {
      for (const [which, cidrs] of [
        ['nat-pools', table.settings.natOutgoingPools],
        ['all-pools', table.settings.allPools],
      ] as const) {
        const name = natSetName(which, family);
        const { elements } = setElements('net', cidrs, family, { warn: (m) => table.warn(`pools: ${m}`), interval: true });
        table.desired.setSet({ name, type: setType('net', family), flags: setFlags('net', true), elements });
        sets.add(name);
      }
    }
    table.desired.setSet({ name: PORT_PROTOCOLS_SET, type: 'inet_proto', flags: [], elements: new Set(['6', '17', '33', '132', '136']) });
    sets.add(PORT_PROTOCOLS_SET);
    for (const name of this.#renderedSets) if (!sets.has(name)) table.desired.deleteSet(name);
    this.#renderedSets = sets;
  }

  completeDeferredWork(): void {
    this.completeSets();
    if (!this.#dirty) return;
    this.#dirty = false;
    const table = this.#table;
    table.ensureMaps();
    for (const chain of renderStaticChains(table.settings, this.#wildcard(), table.context(table.emptyRefs()))) table.putChain(chain);
  }
}
