{#- materialized='quiver_model': the node is a quiver model, trained by
    CREATE OR REPLACE MODEL ... AS <the node's SQL>.

    {{ config(materialized='quiver_model', model_type='word2vec',
              options={'dim': 100, 'min_count': 5}) }}
    select title from {{ ref('products') }}

    A model that needs no input rows (a tagger) has SQL that is only
    comments, naming what it depends on: `-- depends_on: {{ ref('x') }}`.
    Other nodes name the model with {{ quiver_model_name('title_vectors') }},
    which both records the lineage (a ref) and renders the model's name as
    a string: embed({{ quiver_model_name('title_vectors') }}, title). -#}
{% materialization quiver_model, adapter='quiver' %}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set statement_text = adapter.model_statement(
        target_relation,
        config.get('model_type'),
        config.get('options', {}),
        sql if quiver_sql_has_query(sql) else none) -%}

  {{ run_hooks(pre_hooks) }}
  {% call statement('main') -%}
    {{ statement_text }}
  {%- endcall %}
  {{ run_hooks(post_hooks) }}

  {#- A model is not a relation: nothing for dbt's relation cache. -#}
  {{ return({'relations': []}) }}
{% endmaterialization %}

{% macro quiver_sql_has_query(sql) %}
  {%- set ns = namespace(found=false) -%}
  {%- for line in sql.split('\n') -%}
    {%- set text = line | trim -%}
    {%- if text and not text.startswith('--') -%}{%- set ns.found = true -%}{%- endif -%}
  {%- endfor -%}
  {{ return(ns.found) }}
{% endmacro %}

{% macro quiver_model_name(name) -%}
  '{{ adapter.model_name(ref(name)) }}'
{%- endmacro %}
