-- LiteLLM's two tables that passthru-sync reads (--schema litellm), as LiteLLM's Prisma
-- migrations create them (schema.prisma: LiteLLM_Config, LiteLLM_VerificationToken; 1.109 columns).
-- For trying the LiteLLM source without a LiteLLM install; a real deployment already has them.

CREATE TABLE "LiteLLM_Config" (
        "param_name" TEXT NOT NULL,
        "param_value" JSONB,
        "last_run_at" TIMESTAMP(3),
        "reload_revision" BIGINT NOT NULL DEFAULT 0,
        CONSTRAINT "LiteLLM_Config_pkey" PRIMARY KEY ("param_name"));

CREATE TABLE "LiteLLM_VerificationToken" (
        "token" TEXT NOT NULL,
        "key_name" TEXT,
        "key_alias" TEXT,
        "soft_budget_cooldown" BOOLEAN NOT NULL DEFAULT false,
        "spend" DOUBLE PRECISION NOT NULL DEFAULT 0.0,
        "expires" TIMESTAMP(3),
        "models" TEXT[],
        "aliases" JSONB NOT NULL DEFAULT '{}',
        "config" JSONB NOT NULL DEFAULT '{}',
        "user_id" TEXT,
        "team_id" TEXT,
        "permissions" JSONB NOT NULL DEFAULT '{}',
        "max_parallel_requests" INTEGER,
        "metadata" JSONB NOT NULL DEFAULT '{}',
        "blocked" BOOLEAN,
        "tpm_limit" BIGINT,
        "rpm_limit" BIGINT,
        "max_budget" DOUBLE PRECISION,
        "budget_duration" TEXT,
        "budget_reset_at" TIMESTAMP(3),
        "allowed_cache_controls" TEXT[] DEFAULT ARRAY[]::TEXT[],
        "model_spend" JSONB NOT NULL DEFAULT '{}',
        "model_max_budget" JSONB NOT NULL DEFAULT '{}',
        "budget_id" TEXT,
        "organization_id" TEXT,
        "created_at" TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
        "created_by" TEXT,
        "updated_at" TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
        "updated_by" TEXT,
        CONSTRAINT "LiteLLM_VerificationToken_pkey" PRIMARY KEY ("token"));

